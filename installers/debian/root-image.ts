// Pure: a Debian/Ubuntu root built once on the seed and streamed to every machine of a profile.
// debootstrap in an emulated or slow machine spends most of an install in dpkg and maintainer
// scripts (≈ 60 min per machine measured under TCG, 133 s natively); the seed runs it natively,
// once per package set, and the machines only unpack the result (a tar, zstd-compressed, shared
// through the swarm as one blob: a rack costs the seed one copy). What differs per machine —
// hostname, fstab, network, users, keys, GRUB — is the configure and bootloader steps' work, as
// before. The package set depends only on the profile (not on the machine's firmware or disks), so
// every machine of a profile shares one image: both GRUBs are in it.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ErrorCode, LpmosError } from '../../core/errors.ts';

/** Bumped whenever the build (argv, post-processing, archive format) changes: old images are not reused. */
export const ROOT_IMAGE_FORMAT = 1;

const pkg = z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/, 'not a package name');
export const rootImageSpecSchema = z.strictObject({
  os: z.enum(['debian', 'ubuntu']),
  suite: z.string().regex(/^[a-z][a-z0-9-]*$/, 'not a suite name'),
  arch: z.enum(['amd64', 'arm64']),
  variant: z.literal('minbase'),
  components: z.array(z.string().regex(/^[a-z][a-z0-9-]*$/, 'not a component name')).max(8),
  include: z.array(pkg).min(1).max(500),
});
export type RootImageSpec = z.infer<typeof rootImageSpecSchema>;

/** What the seed answers for a built image: its blob (sha256, size) and where it is served. */
export const rootImageRefSchema = z.strictObject({
  key: z.string().regex(/^[0-9a-f]{64}$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().min(1),
  /** Path on the seed (`/rootfs/<key>.tar.zst`), Range requests allowed. */
  path: z.string().regex(/^\/rootfs\/[0-9a-f]{64}\.tar\.zst$/),
  packages: z.number().int().min(0),
  builtAt: z.string(),
  buildSeconds: z.number().min(0),
});
export type RootImageRef = z.infer<typeof rootImageRefSchema>;

/** The seed's answer to POST /rootfs: built, under way (try again later), or failed. */
export type RootImageAnswer =
  | { state: 'ready'; image: RootImageRef }
  | { state: 'building'; key: string; since: string; message: string }
  | { state: 'failed'; key: string; code: string; message: string };

/** The spec with its lists sorted and deduplicated: equal sets give equal keys. */
export function normalizeRootImageSpec(s: RootImageSpec): RootImageSpec {
  const parsed = rootImageSpecSchema.safeParse(s);
  if (!parsed.success) throw new LpmosError(ErrorCode.Validation, `root image spec: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  const v = parsed.data;
  return { ...v, components: [...new Set(v.components)].sort(), include: [...new Set(v.include)].sort() };
}

/** The image's content key: sha256 of the normalized spec and the build format. */
export function rootImageKey(s: RootImageSpec): string {
  const n = normalizeRootImageSpec(s);
  return createHash('sha256').update(JSON.stringify({ format: ROOT_IMAGE_FORMAT, ...n })).digest('hex');
}

/** debootstrap on the seed: its own resolution (natively ≈ 14 s of CPU), the mirror is the seed's own. */
export function rootBuildArgv(s: RootImageSpec, target: string, mirror: string): string[] {
  const n = normalizeRootImageSpec(s);
  return [
    'debootstrap', `--variant=${n.variant}`, `--arch=${n.arch}`, `--include=${n.include.join(',')}`,
    ...(n.components.length ? [`--components=${n.components.join(',')}`] : []),
    n.suite, target, mirror,
  ];
}

/**
 * After debootstrap, in the built root ($1): an initramfs that boots any machine (MODULES=most, the
 * mdadm and LVM hooks when those packages are in; no resume device guessed from the seed's own swap),
 * and nothing that must differ per machine: machine-id (systemd makes one at first boot), SSH host keys
 * (the configure step makes them), hostname; no package files or apt lists (the configure step's
 * sources name the seed's mirror). /proc, /sys and /dev are mounted for update-initramfs and always
 * unmounted again.
 */
export const ROOT_FINISH_SCRIPT = [
  'set -eu',
  'T=$1',
  'cleanup () { for d in dev/pts dev sys proc; do umount "$T/$d" 2>/dev/null || umount -l "$T/$d" 2>/dev/null || true; done; }',
  'trap cleanup EXIT',
  'mount -t proc proc "$T/proc"; mount -t sysfs sysfs "$T/sys"; mount --bind /dev "$T/dev"; mount --bind /dev/pts "$T/dev/pts"',
  'mkdir -p "$T/etc/initramfs-tools/conf.d"',
  'printf "RESUME=none\\n" > "$T/etc/initramfs-tools/conf.d/resume"',
  'printf "MODULES=most\\n" > "$T/etc/initramfs-tools/conf.d/lpmos-modules"',
  'chroot "$T" update-initramfs -u -k all',
  'cleanup; trap - EXIT',
  'rm -f "$T"/var/cache/apt/archives/*.deb "$T"/var/cache/apt/*.bin',
  'rm -rf "$T"/var/lib/apt/lists/* "$T"/var/log/bootstrap.log',
  ': > "$T/etc/machine-id"; rm -f "$T/var/lib/dbus/machine-id"',
  'rm -f "$T"/etc/ssh/ssh_host_*',
  'rm -f "$T/etc/hostname"',
].join('\n');

/** The archive of the built root: numeric owners, extended attributes (file capabilities) and ACLs kept. */
export function rootPackArgv(root: string): string[] {
  return ['tar', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--one-file-system', '-C', root, '-cf', '-', '.'];
}

/**
 * Unpacking it on the machine, into the mounted target. --ignore-zeros: tar reads to the end of its
 * input instead of stopping at the end-of-archive blocks, so the stream is read whole and its sha256
 * is checked (root-unpack.ts); stopping early would also break the pipe into tar.
 */
export function rootUnpackArgv(target: string): string[] {
  return ['tar', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--ignore-zeros', '-C', target, '-xpf', '-'];
}

const list = (v: string | null): string[] => (v ? v.split(',').filter(Boolean) : []);

/** The spec in a POST /rootfs query (validated: E_VALIDATION names the field). */
export function rootfsSpecFromQuery(q: URLSearchParams): RootImageSpec {
  return normalizeRootImageSpec({
    os: q.get('os') as RootImageSpec['os'],
    suite: q.get('suite') ?? '',
    arch: (q.get('arch') ?? 'amd64') as RootImageSpec['arch'],
    variant: (q.get('variant') ?? 'minbase') as RootImageSpec['variant'],
    components: list(q.get('components')),
    include: list(q.get('include')),
  });
}

/** The query for a spec (the agent's side of the same request). */
export function rootfsQuery(s: RootImageSpec): string {
  return new URLSearchParams({ os: s.os, suite: s.suite, arch: s.arch, variant: s.variant, components: s.components.join(','), include: s.include.join(',') }).toString();
}

/** Progress while the image is fetched and unpacked (the executor's StepProgress). */
export interface RootImageProgress { percent?: number; bytes?: number; message?: string }

/** An opened image: the compressed archive as a stream, its size, and what releases it (an unpin). */
export interface OpenedRootImage {
  stream: NodeJS.ReadableStream;
  size: number;
  sha256: string;
  /** Where its bytes came from, for the log (`swarm`, `seed`). */
  via: string;
  close(): void;
}

/** Where the agent gets root images: asks the seed to build one, then fetches it (agent/root-images.ts). */
export interface RootImageSource {
  open(spec: RootImageSpec, signal: AbortSignal, progress: (p: RootImageProgress) => void): Promise<OpenedRootImage>;
}
