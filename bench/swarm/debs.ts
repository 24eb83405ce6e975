// The package files of the bench's set when none are cached yet: what the demo's profile
// (examples/profile-debian12-minimal.yaml) installs — the seed-built root's package set, i.e. Debian 12
// minbase + kernel + both firmwares' boot packages + openssh-server — downloaded by
// `debootstrap --download-only` into the same apt cache the install uses (~/.cache/lpmos/apt-cache),
// so a second run, and the install test, reuse them.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseObjects, validateDocuments } from '../../core/model/documents.ts';
import type { Profile } from '../../core/model/profile.ts';
import type { Disk } from '../../core/model/inventory.ts';
import { rootImageSpecFor } from '../../installers/debian/steps.ts';
import { selectDisks } from '../../installers/plan/disks.ts';
import { resolveLayout } from '../../installers/plan/layout.ts';
import { parseMirrorSetting, readHostSources } from '../../seed/mirror/setting.ts';
import { debsIn } from './set.ts';

const GiB = 1024 ** 3;
const DEMO_PROFILE = join(import.meta.dirname, '../../examples/profile-debian12-minimal.yaml');

/** A disk the demo profile's storage fits on (its size only decides the root partition's). */
const benchDisk: Disk = {
  name: 'vda', path: '/dev/vda', sizeBytes: 8 * GiB, model: 'bench', vendor: 'bench', serial: 'bench', wwn: null, rotational: false,
  removable: false, transport: 'virtio', byPath: null, hctl: null, logicalSectorBytes: 512, physicalSectorBytes: 512,
};

/** Suite and packages of the seed-built root for a profile, as the installer computes them. Pure. */
export function installPackages(profile: Profile): { suite: string; arch: string; include: string[] } {
  const layout = resolveLayout(profile.storage, selectDisks(profile.storage.disks, [benchDisk]));
  const spec = rootImageSpecFor(profile, layout, {
    machine: 'bench', firmware: 'bios', mirror: 'http://127.0.0.1/debian', target: '/target', hostname: 'bench', seedUrl: 'http://127.0.0.1',
  });
  return { suite: spec.suite, arch: spec.arch, include: [...spec.include] };
}

/** The demo's profile (the first document of the example file). */
export function demoProfile(): Profile {
  const [doc] = validateDocuments(parseObjects(readFileSync(DEMO_PROFILE, 'utf8'), DEMO_PROFILE), DEMO_PROFILE, 'Profile');
  if (!doc || doc.kind !== 'Profile') throw new Error(`${DEMO_PROFILE} holds no Profile`);
  return doc;
}

/** debootstrap's argv that downloads a minbase install's packages into `cacheDir`. Pure. */
export function downloadArgv(o: { suite: string; arch: string; include: readonly string[]; cacheDir: string; scratch: string; mirror: string }): string[] {
  return ['debootstrap', '--download-only', '--variant=minbase', `--arch=${o.arch}`, '--components=main', `--include=${o.include.join(',')}`, `--cache-dir=${o.cacheDir}`, o.suite, o.scratch, o.mirror];
}

/**
 * Makes sure `dir` holds .deb files: when it has none, downloads the demo install's packages from the host's
 * Debian mirror (its apt sources, as the seed's `--mirror auto` reads them). Returns how many it downloaded.
 */
export async function ensureDebs(dir: string, log: (s: string) => void, signal?: AbortSignal): Promise<number> {
  if (debsIn(dir).length > 0) return 0;
  const mirror = parseMirrorSetting('auto', await readHostSources()).debian;
  if (!mirror) throw new Error(`no .deb files in ${dir} and no Debian mirror in this host's apt sources: set BENCH_DEBS to a directory of .deb files`);
  const { suite, arch, include } = installPackages(demoProfile());
  mkdirSync(dir, { recursive: true });
  const scratch = mkdtempSync(join(dir, '.download-'));
  const argv = downloadArgv({ suite, arch, include, cacheDir: dir, scratch, mirror });
  log(`no .deb files in ${dir}: downloading the demo install's packages (${suite} minbase + ${include.join(', ')}) from ${mirror} — once`);
  try {
    await promisify(execFile)(argv[0] ?? 'debootstrap', argv.slice(1), { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 64 * 1024 * 1024, ...(signal ? { signal } : {}) });
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string };
    const tail = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim().split('\n').slice(-5).join('\n');
    throw new Error(`${argv.slice(0, 2).join(' ')} … failed: ${err.message.split('\n')[0] ?? ''}${tail ? `\n${tail}` : ''}`, { cause: e });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const n = debsIn(dir).length;
  if (n === 0) throw new Error(`debootstrap --download-only left no .deb files in ${dir}`);
  return n;
}
