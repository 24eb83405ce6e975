// Stage 0 of the agent ramdisk (`stage0.img`): a small archive that lets a machine booted by iPXE keep the
// ramdisk's bytes, so the agent can serve them to machines the seed redirects to it without fetching
// them again (issue 7: the kernel frees its copy of the initramfs after unpacking it, and Debian 12's
// kernel has no /sys/firmware/initrd). The boot script loads stage0.img, then the ramdisk wrapped as the
// file /lpmos-initrd.img, and sets rdinit=/stage0/init; that script (boot/ramdisk/stage0-init) unpacks
// the ramdisk's layers and starts its /init. Contents: busybox (static, Debian's busybox-static: sh, dd,
// cpio, xzcat), the host's zstd with the libraries it links (run through their own loader under
// /stage0/lib, so nothing collides with the ramdisk's /usr/lib), the layer sizes and the ramdisk's size.
import { copyFile, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { extractDeb, listTree } from '../assets/apt.ts';
import { obtainPackage } from '../assets/gather.ts';
import { run } from '../exec.ts';
import { packTree, type Compression, type CompressionKind } from './archive.ts';

export { KEPT_INITRD_PATH, STAGE0_FILE, STAGE0_RDINIT } from '../../core/stage0.ts';

export interface Stage0Layer {
  size: number;
  kind: CompressionKind;
}

/** `/stage0/layers`: one line per layer, `<compressed size> <compression>`, in the ramdisk's order. */
export function layersText(layers: readonly Stage0Layer[]): string {
  return layers.map((l) => `${l.size} ${l.kind}\n`).join('');
}

/** The shared libraries and loader `ldd` names for a binary: [path on this host, file name]. */
export function parseLdd(out: string): { path: string; name: string }[] {
  const libs: { path: string; name: string }[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)\s+\(/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.push({ path: m[1], name: basename(m[1]) });
  }
  return libs;
}

const HERE = dirname(new URL(import.meta.url).pathname);

/** The stage-0 script; its hash is part of the ramdisk's cache key (a changed script rebuilds stage0.img). */
export function stage0Script(): Promise<Buffer> {
  return readFile(join(HERE, 'stage0-init'));
}

export interface Stage0Options {
  scratch: string;
  /** Where Debian packages are cached (busybox-static). */
  debCache: string;
  layers: readonly Stage0Layer[];
  /** Size of the initrd.img those layers make up. */
  initrdSize: number;
  compression: Compression;
  signal?: AbortSignal | undefined;
}

/** Builds stage0.img for one ramdisk (its layer sizes) into `outFile`; returns its size. */
export async function buildStage0(o: Stage0Options, outFile: string): Promise<number> {
  const total = o.layers.reduce((s, l) => s + l.size, 0);
  if (total !== o.initrdSize) throw new LpmosError(ErrorCode.Internal, `stage 0: the layers add up to ${total} bytes, initrd.img has ${o.initrdSize}`);
  const tree = join(o.scratch, 'stage0-tree');
  const dir = join(tree, 'stage0');
  await mkdir(join(dir, 'lib'), { recursive: true });

  const pkg = await obtainPackage({ name: 'busybox-static' }, o.debCache, o.signal);
  const deb = join(o.scratch, 'busybox-static');
  await extractDeb(pkg.deb, deb, o.signal);
  const bb = (await listTree(deb)).find((p) => /(^|\/)bin\/busybox$/.test(p));
  if (!bb) throw new LpmosError(ErrorCode.NotFound, `stage 0: ${pkg.deb} has no bin/busybox`);
  await copyFile(join(deb, bb), join(dir, 'busybox'));

  if (o.layers.some((l) => l.kind === 'zstd')) {
    const zstd = (await run('bash', ['-c', 'command -v zstd'], { signal: o.signal, errorCode: ErrorCode.NotFound })).stdout.trim();
    await copyFile(zstd, join(dir, 'zstd'));
    const libs = parseLdd((await run('ldd', [zstd], { signal: o.signal })).stdout);
    if (!libs.some((l) => l.name.startsWith('ld-linux'))) throw new LpmosError(ErrorCode.Internal, `stage 0: ldd ${zstd} names no loader`);
    for (const l of libs) await copyFile(l.path, join(dir, 'lib', l.name.startsWith('ld-linux') ? 'ld-linux-x86-64.so.2' : l.name));
  }
  await writeFile(join(dir, 'init'), await stage0Script());
  for (const f of ['init', 'busybox', 'zstd', 'lib/ld-linux-x86-64.so.2']) await chmod(join(dir, f), 0o755).catch(() => undefined);
  await writeFile(join(dir, 'layers'), layersText(o.layers));
  await writeFile(join(dir, 'size'), `${o.initrdSize}\n`);
  return packTree(tree, outFile, o.compression, o.signal);
}
