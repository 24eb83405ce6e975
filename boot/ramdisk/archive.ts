// A directory tree → one compressed cpio (newc) archive, the format the kernel unpacks into its rootfs.
// Several such archives concatenated are one initramfs: the kernel unpacks them in order
// (Documentation/driver-api/early-userspace/buffer-format.rst), so each layer is cached on its own.
import { rename, rm, stat } from 'node:fs/promises';
import { run } from '../exec.ts';

export type CompressionKind = 'zstd' | 'xz';

export interface Compression {
  kind: CompressionKind;
  level: number;
}

/** Measured on this project's ramdisk (see README/boot report): zstd -15 --long is within 10 % of xz and unpacks several times faster under TCG. */
export const DEFAULT_COMPRESSION: Compression = { kind: 'zstd', level: 15 };

/**
 * Compressor command line reading stdin, writing stdout. xz: the kernel's decoder accepts only CRC32 or no
 * integrity check (lib/xz, `--check=crc32`). zstd: a 32 MiB window (--long=25) improves the ratio on the large
 * node binary and stays small enough for the kernel's decompressor to allocate early in boot.
 */
export function compressorArgs(c: Compression, threads = 2): [string, string[]] {
  if (c.kind === 'xz') return ['xz', [`-${c.level}`, '--check=crc32', `-T${threads}`, '-c', '-q']];
  const ultra = c.level > 19 ? ['--ultra'] : [];
  return ['zstd', [...ultra, `-${c.level}`, '--long=25', `-T${threads}`, '-c', '-q']];
}

/** Packs every entry under `dir` (sorted, owned by root) into `outFile`; atomically. Returns its size. */
export async function packTree(dir: string, outFile: string, c: Compression, signal?: AbortSignal): Promise<number> {
  const [cmd, args] = compressorArgs(c);
  const tmp = `${outFile}.tmp-${process.pid}`;
  const script = 'set -euo pipefail; cd "$1"; out="$2"; shift 2; find . -mindepth 1 -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet | "$@" > "$out"';
  try {
    await run('bash', ['-c', script, 'pack', dir, tmp, cmd, ...args], { signal });
    await rename(tmp, outFile);
  } finally {
    await rm(tmp, { force: true });
  }
  return (await stat(outFile)).size;
}
