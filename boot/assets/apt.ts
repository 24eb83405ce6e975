// The apt/dpkg edge: find a package's version, download its .deb into the cache without installing it,
// extract it into a scratch tree. Works offline when the .deb is already in the cache.
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, LpmosError, isLpmosError } from '../../core/errors.ts';
import { run } from '../exec.ts';
import { debFileName, exactDependency, parseControl, parseControlStanzas } from './spec.ts';

export interface ResolvedPackage {
  name: string;
  version: string;
  arch: string;
  depends: string;
  /** The .deb in the cache, once fetched. */
  deb?: string;
}

/** Quiet apt: no sandbox warning when the cache dir is not readable by `_apt`. */
const APT_OPTS = ['-o', 'APT::Sandbox::User=root', '-q'];

/**
 * Candidate versions of many packages with one `apt-cache show` (each call costs ≈ 1.5 s);
 * packages it does not know fall back to resolvePackage (cached .deb, or a clear error).
 */
export async function resolvePackages(names: readonly string[], cacheDir: string, signal?: AbortSignal): Promise<Map<string, ResolvedPackage>> {
  const out = new Map<string, ResolvedPackage>();
  let stdout = '';
  try {
    stdout = (await run('apt-cache', [...APT_OPTS, 'show', '--no-all-versions', ...names], { signal })).stdout;
  } catch (e) {
    if (isLpmosError(e, ErrorCode.Timeout)) throw e;
  }
  for (const f of parseControlStanzas(stdout)) {
    const name = f.get('Package');
    const version = f.get('Version');
    if (!name || !version || out.has(name) || !names.includes(name)) continue;
    out.set(name, { name, version, arch: f.get('Architecture') ?? 'all', depends: f.get('Depends') ?? '' });
  }
  for (const n of names) {
    if (out.has(n)) continue;
    // apt has just said it does not know the package: only the cache can help.
    const cached = await newestCachedDeb(n, cacheDir, signal);
    if (!cached) throw notFound(n, cacheDir);
    out.set(n, cached);
  }
  return out;
}

/** The candidate version from the host's apt lists (`apt-cache show`), or, offline, the newest cached .deb. */
export async function resolvePackage(name: string, cacheDir: string, signal?: AbortSignal): Promise<ResolvedPackage> {
  try {
    const { stdout } = await run('apt-cache', [...APT_OPTS, 'show', '--no-all-versions', name], { signal, errorCode: ErrorCode.NotFound });
    const f = parseControl(stdout);
    const version = f.get('Version');
    if (!version) throw new LpmosError(ErrorCode.NotFound, `apt-cache knows no version of ${name}`);
    return { name, version, arch: f.get('Architecture') ?? 'all', depends: f.get('Depends') ?? '' };
  } catch (e) {
    if (isLpmosError(e, ErrorCode.Timeout)) throw e;
    const cached = await newestCachedDeb(name, cacheDir, signal);
    if (cached) return cached;
    throw notFound(name, cacheDir, e);
  }
}

function notFound(name: string, cacheDir: string, cause?: unknown): LpmosError {
  return new LpmosError(ErrorCode.NotFound, `Debian package ${name} cannot be had: apt does not know it (run apt-get update?) and no .deb is cached in ${cacheDir}`, cause === undefined ? undefined : { cause });
}

async function newestCachedDeb(name: string, cacheDir: string, signal?: AbortSignal): Promise<ResolvedPackage | undefined> {
  let names: string[];
  try {
    names = await readdir(cacheDir);
  } catch {
    return undefined;
  }
  let best: ResolvedPackage | undefined;
  for (const file of names.filter((n) => n.startsWith(`${name}_`) && n.endsWith('.deb'))) {
    const deb = join(cacheDir, file);
    const f = parseControl((await run('dpkg-deb', ['-f', deb], { signal })).stdout);
    if (f.get('Package') !== name) continue;
    const cand = { name, version: f.get('Version') ?? '', arch: f.get('Architecture') ?? 'all', depends: f.get('Depends') ?? '', deb };
    if (!best || (await versionGreater(cand.version, best.version, signal))) best = cand;
  }
  return best;
}

async function versionGreater(a: string, b: string, signal?: AbortSignal): Promise<boolean> {
  try {
    await run('dpkg', ['--compare-versions', a, 'gt', b], { signal });
    return true;
  } catch {
    return false;
  }
}

/** A meta package (linux-image-amd64) → the versioned package its Depends names. */
export async function resolveViaDepends(meta: ResolvedPackage, prefix: string, cacheDir: string, signal?: AbortSignal): Promise<ResolvedPackage> {
  const real = exactDependency(meta.depends, prefix);
  if (!real) throw new LpmosError(ErrorCode.NotFound, `${meta.name} ${meta.version} depends on no package named ${prefix}*`);
  // Kernel meta packages pin the exact version (`(= 6.1.192-2)`): no second apt query needed.
  if (real.version) return { name: real.name, version: real.version, arch: meta.arch, depends: '' };
  return resolvePackage(real.name, cacheDir, signal);
}

/** The package's .deb in the cache, downloading it (`apt-get download`, no install) when missing. */
export async function fetchDeb(pkg: ResolvedPackage, cacheDir: string, signal?: AbortSignal): Promise<string> {
  if (pkg.deb) return pkg.deb;
  await mkdir(cacheDir, { recursive: true });
  const file = join(cacheDir, debFileName(pkg.name, pkg.version, pkg.arch));
  const have = await readdir(cacheDir);
  if (have.includes(debFileName(pkg.name, pkg.version, pkg.arch))) return file;
  // Download into a private dir and rename: two builds at once never see a half-written .deb.
  const tmp = await mkdtemp(join(cacheDir, '.dl-'));
  try {
    await run('apt-get', [...APT_OPTS, 'download', `${pkg.name}=${pkg.version}`], { cwd: tmp, signal, errorCode: ErrorCode.Unavailable });
    const got = (await readdir(tmp)).find((n) => n.endsWith('.deb'));
    if (!got) throw new LpmosError(ErrorCode.Unavailable, `apt-get download ${pkg.name}=${pkg.version} produced no .deb`);
    await rename(join(tmp, got), file);
  } catch (e) {
    if (isLpmosError(e)) {
      throw new LpmosError(e.code, `Debian package ${pkg.name}=${pkg.version} cannot be downloaded (offline? not in the host's apt sources?)`, { details: e.details, cause: e });
    }
    throw e;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return file;
}

/** `dpkg-deb -x`: the package's files under `dir`, nothing run, nothing installed; `members` limits it to tar wildcards. */
export async function extractDeb(deb: string, dir: string, signal?: AbortSignal, members?: readonly string[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (!members || members.length === 0) {
    await run('dpkg-deb', ['-x', deb, dir], { signal });
    return;
  }
  const script = 'set -o pipefail; deb="$1"; dir="$2"; shift 2; dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" --wildcards "$@"';
  await run('bash', ['-c', script, 'extract', deb, dir, ...members], { signal });
}

/** Every file and symlink under `root`, as tree-relative paths. */
export async function listTree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}
