// `lpmos boot assets`: boot loaders and a kernel taken out of Debian packages into one directory,
// with a manifest (file, sha256, size, package, version). Idempotent: files already right are left alone.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, lstat, mkdir, mkdtemp, readFile, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../../core/log.ts';
import { silentLogger } from '../../core/log.ts';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { debCacheDir } from '../cache.ts';
import { extractDeb, fetchDeb, listTree, resolvePackage, resolvePackages, resolveViaDepends, type ResolvedPackage } from './apt.ts';
import { BOOT_ASSET_PACKAGES, buildManifest, kernelReleaseFromPath, planCopies, resolveLinkInTree, type AssetManifest, type AssetPackage, type KernelInfo, type ManifestEntry } from './spec.ts';

export const MANIFEST_NAME = 'manifest.json';

export interface GatherOptions {
  outDir: string;
  cacheDir?: string;
  packages?: readonly AssetPackage[];
  signal?: AbortSignal;
  log?: Logger;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Follows symlinks inside the extracted tree only (never onto the host's /boot). */
async function realInTree(tree: string, rel: string): Promise<string> {
  let cur = rel;
  for (let hops = 0; hops < 16; hops++) {
    const st = await lstat(join(tree, cur)).catch(() => undefined);
    if (!st) throw new LpmosError(ErrorCode.NotFound, `${rel} points to ${cur}, which is not in the package`);
    if (!st.isSymbolicLink()) return cur;
    cur = resolveLinkInTree(cur, await readlink(join(tree, cur)));
  }
  throw new LpmosError(ErrorCode.Validation, `${rel}: too many symlink hops`);
}

/** Copies `src` to `dest` unless `dest` already has the same bytes; the copy is atomic (temp + rename). */
async function installFile(src: string, dest: string, sha: string): Promise<void> {
  const existing = await stat(dest).catch(() => undefined);
  if (existing?.isFile() && (await sha256File(dest)) === sha) return;
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}`;
  await copyFile(src, tmp);
  await rename(tmp, dest);
}

/** A package's version, following a meta package (linux-image-amd64) to the real one. */
export async function resolveAsset(pkg: Pick<AssetPackage, 'name' | 'viaDependsPrefix'>, cacheDir: string, signal?: AbortSignal): Promise<ResolvedPackage> {
  const resolved = await resolvePackage(pkg.name, cacheDir, signal);
  return pkg.viaDependsPrefix ? resolveViaDepends(resolved, pkg.viaDependsPrefix, cacheDir, signal) : resolved;
}

/** Resolves a package and makes sure its .deb is in the cache. */
export async function obtainPackage(pkg: Pick<AssetPackage, 'name' | 'viaDependsPrefix'>, cacheDir: string, signal?: AbortSignal): Promise<ResolvedPackage & { deb: string }> {
  const resolved = await resolveAsset(pkg, cacheDir, signal);
  return { ...resolved, deb: await fetchDeb(resolved, cacheDir, signal) };
}

/** The manifest already in `outDir` when every file it lists is there with its hash and came from `versions`. */
async function upToDate(outDir: string, versions: ReadonlyMap<string, string>): Promise<AssetManifest | undefined> {
  let m: AssetManifest;
  try {
    m = JSON.parse(await readFile(join(outDir, MANIFEST_NAME), 'utf8')) as AssetManifest;
  } catch {
    return undefined;
  }
  if (m.kind !== 'lpmos-boot-assets' || !Array.isArray(m.files)) return undefined;
  const had = new Set(m.files.map((f) => `${f.package}=${f.version}`));
  const want = new Set([...versions].map(([n, v]) => `${n}=${v}`));
  if (had.size !== want.size || [...want].some((w) => !had.has(w))) return undefined;
  for (const f of m.files) {
    const st = await stat(join(outDir, f.file)).catch(() => undefined);
    if (!st || st.size !== f.size || (await sha256File(join(outDir, f.file))) !== f.sha256) return undefined;
  }
  return m;
}

export async function gatherBootAssets(opts: GatherOptions): Promise<AssetManifest> {
  const log = opts.log ?? silentLogger();
  const cacheDir = opts.cacheDir ?? debCacheDir();
  const packages = opts.packages ?? BOOT_ASSET_PACKAGES;
  await mkdir(opts.outDir, { recursive: true });
  await mkdir(cacheDir, { recursive: true });
  // Resolving is cheap (apt-cache); when nothing changed the output is verified and left as it is.
  const direct = await resolvePackages(packages.map((p) => p.name), cacheDir, opts.signal);
  const resolved = new Map<string, ResolvedPackage>();
  for (const pkg of packages) {
    const r = direct.get(pkg.name);
    if (!r) continue;
    resolved.set(pkg.name, pkg.viaDependsPrefix ? await resolveViaDepends(r, pkg.viaDependsPrefix, cacheDir, opts.signal) : r);
  }
  const current = await upToDate(opts.outDir, new Map([...resolved.values()].map((r) => [r.name, r.version])));
  if (current) {
    log.info({ files: current.files.length, outDir: opts.outDir }, 'boot assets: up to date');
    return current;
  }
  const scratch = await mkdtemp(join(cacheDir, '.assets-'));
  const entries: ManifestEntry[] = [];
  let kernel: KernelInfo | undefined;
  try {
    for (const pkg of packages) {
      const r = resolved.get(pkg.name);
      if (!r) continue;
      const got = { ...r, deb: await fetchDeb(r, cacheDir, opts.signal) };
      log.info({ package: got.name, version: got.version }, 'boot assets: package');
      const tree = join(scratch, got.name);
      await extractDeb(got.deb, tree, opts.signal, pkg.members);
      for (const copy of planCopies(pkg, await listTree(tree))) {
        const src = join(tree, await realInTree(tree, copy.src));
        const sha = await sha256File(src);
        await installFile(src, join(opts.outDir, copy.dest), sha);
        entries.push({ file: copy.dest, sha256: sha, size: (await stat(src)).size, package: got.name, version: got.version });
        const release = kernelReleaseFromPath(copy.src);
        if (pkg.viaDependsPrefix === 'linux-image-' && release) kernel = { package: got.name, version: got.version, release };
      }
      await rm(tree, { recursive: true, force: true });
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const manifest = buildManifest(entries, kernel);
  const tmp = join(opts.outDir, `.${MANIFEST_NAME}.${process.pid}`);
  await writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(tmp, join(opts.outDir, MANIFEST_NAME));
  log.info({ files: manifest.files.length, outDir: opts.outDir }, 'boot assets: done');
  return manifest;
}
