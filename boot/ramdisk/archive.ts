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

/**
 * Chosen by measurement (2 shared cores, one thread each):
 *   64 MB of the base layer:   zstd -9 12.93 MB 1.8 s · -12 12.40 MB 4.3 s · -15 12.33 MB 14.9 s · -19 10.82 MB 49 s
 *   the 108 MB node binary:    zstd -12 34.4 MB 11.4 s · xz -6 27.2 MB 80.5 s
 *   unpacking 420 MB in a TCG guest: uncompressed ≈ 25 s, zstd ≈ 86 s (under load); xz decodes several times slower still.
 * zstd -12: the ratio of -15 at a third of the CPU; xz saves ≈ 20 % of bytes but costs 7× the CPU to pack and
 * the most time to unpack, which is what a booting machine (and every QEMU test) pays.
 */
export const DEFAULT_COMPRESSION: Compression = { kind: 'zstd', level: 12 };

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
