// The three layers of the agent ramdisk, each a compressed cpio cached by the hash of its inputs:
//   base    — the Debian root (mmdebstrap minbase + the agent's tools), pruned; changes rarely, slow to build.
//   runtime — kernel modules (pruned to storage/network/RAID/filesystems) and the Node 24 binary.
//   agent   — /init, the DHCP script, the bundled agent: rebuilt in seconds when the agent changes.
import { readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../../core/log.ts';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { extractDeb, listTree } from '../assets/apt.ts';
import { run } from '../exec.ts';
import { packTree, type Compression } from './archive.ts';
import type { AgentBundle } from './bundle.ts';
import {
  DPKG_PATH_EXCLUDES, PRUNE_AFTER_PURGE, PRUNE_PATHS, PURGE_PACKAGES, RAMDISK_PACKAGES, SUITE, moduleClosure, modinfoDepends,
} from './spec.ts';

export interface LayerContext {
  scratch: string;
  compression: Compression;
  log: Logger;
  signal?: AbortSignal;
}

/** mmdebstrap into a scratch root, purge and prune, pack. Needs root (chroot, device nodes). */
export async function buildBaseLayer(ctx: LayerContext, sourcesFile: string, outFile: string): Promise<number> {
  if (process.getuid?.() !== 0) throw new LpmosError(ErrorCode.Unavailable, 'building the ramdisk root needs root (mmdebstrap, chroot)');
  await mkdir(ctx.scratch, { recursive: true });
  const root = join(ctx.scratch, 'root');
  const args = [
    '--variant=minbase', '--mode=root', `--include=${RAMDISK_PACKAGES.join(',')}`,
    ...DPKG_PATH_EXCLUDES.map((p) => `--dpkgopt=path-exclude=${p}`),
    SUITE, root, sourcesFile,
  ];
  ctx.log.info('ramdisk: mmdebstrap (downloads and installs ≈ 150 packages, ≈ 1–2 min)');
  let lastLine = '';
  await run('mmdebstrap', args, {
    signal: ctx.signal,
    errorCode: ErrorCode.Unavailable,
    onStderr: (s) => {
      for (const line of s.split('\n')) {
        if (line.startsWith('I: ') && line !== lastLine) ctx.log.info(`ramdisk: mmdebstrap ${line.slice(3)}`);
        if (line.trim()) lastLine = line;
      }
    },
  });
  const installed = new Set((await run('chroot', [root, 'dpkg-query', '-W', '-f=${Package}\\n'], { signal: ctx.signal })).stdout.split('\n'));
  const purge = PURGE_PACKAGES.filter((p) => installed.has(p));
  if (purge.length > 0) {
    await run('chroot', [root, 'dpkg', '--purge', '--force-depends', '--force-remove-essential', ...purge], { signal: ctx.signal });
  }
  for (const p of [...PRUNE_PATHS, ...PRUNE_AFTER_PURGE]) await rm(join(root, p), { recursive: true, force: true });
  await mkdir(join(root, 'var/log'), { recursive: true });
  await writeFile(join(root, 'etc/hostname'), 'lpmos-agent\n');
  await writeFile(join(root, 'etc/hosts'), '127.0.0.1 localhost\n127.0.1.1 lpmos-agent\n::1 localhost ip6-localhost ip6-loopback\n');
  ctx.log.info('ramdisk: packing the base layer');
  const size = await packTree(root, outFile, ctx.compression, ctx.signal);
  await rm(root, { recursive: true, force: true });
  return size;
}

export interface RuntimeInputs {
  kernelDeb: string;
  release: string;
  nodeBinary: string;
}

/** Kernel modules for `release` pruned to the kept set (plus dependencies), depmod'ed; the Node binary, stripped. */
export async function buildRuntimeLayer(ctx: LayerContext, inp: RuntimeInputs, outFile: string, kernelOut: string): Promise<{ size: number; modules: number; missing: string[] }> {
  await mkdir(ctx.scratch, { recursive: true });
  const k = join(ctx.scratch, 'kernel');
  await extractDeb(inp.kernelDeb, k, ctx.signal, ['./lib/modules/*', './boot/vmlinuz-*']);
  await copyFile(join(k, 'boot', `vmlinuz-${inp.release}`), kernelOut);
  const modRoot = join(k, 'lib', 'modules', inp.release);
  const all = (await listTree(join(modRoot, 'kernel'))).filter((p) => /\.ko(\.(xz|zst))?$/.test(p));
  const { keep, missing } = moduleClosure(all, (p) => modinfoDepends(readFileSync(join(modRoot, 'kernel', p))));
  const tree = join(ctx.scratch, 'runtime');
  const dest = join(tree, 'usr', 'lib', 'modules', inp.release);
  for (const p of keep) {
    await mkdir(dirname(join(dest, 'kernel', p)), { recursive: true });
    await copyFile(join(modRoot, 'kernel', p), join(dest, 'kernel', p));
  }
  for (const f of await readdir(modRoot)) {
    if (f.startsWith('modules.')) await copyFile(join(modRoot, f), join(dest, f));
  }
  // Each module compressed on its own (kmod 30 in the ramdisk is built +ZSTD and decompresses in userspace):
  // the kernel then unpacks ≈ 90 MB less at boot — under TCG unpacking costs ≈ 0.15 s per MB — and only the
  // few modules a machine loads are ever decompressed.
  await run('bash', ['-c', 'cd "$1" && find . -name "*.ko" -print0 | xargs -0 -r zstd -q --rm -T1 -12', 'zmod', join(dest, 'kernel')], { signal: ctx.signal });
  // depmod looks under <base>/lib/modules; the ramdisk's /lib is a symlink to usr/lib (merged /usr), so the
  // layer must not carry a real lib/ directory: a temporary link only for depmod.
  await symlink('usr/lib', join(tree, 'lib'));
  await run('depmod', ['-b', tree, inp.release], { signal: ctx.signal });
  await rm(join(tree, 'lib'));
  ctx.log.info({ kept: keep.length, of: all.length }, 'ramdisk: kernel modules pruned');

  const nodeDest = join(tree, 'usr', 'lib', 'lpmos', 'bin', 'node');
  await mkdir(dirname(nodeDest), { recursive: true });
  // The npm package's node carries debug info and symbols (≈ 18 MB): strip them when binutils is there;
  // .dynsym stays, native addons still link.
  await run('strip', ['--strip-all', '-o', nodeDest, inp.nodeBinary], { signal: ctx.signal }).catch(() => copyFile(inp.nodeBinary, nodeDest));
  await chmod(nodeDest, 0o755);
  await mkdir(join(tree, 'usr', 'local', 'bin'), { recursive: true });
  await symlink('/usr/lib/lpmos/bin/node', join(tree, 'usr', 'local', 'bin', 'node'));
  ctx.log.info('ramdisk: packing the runtime layer (modules + node)');
  const size = await packTree(tree, outFile, ctx.compression, ctx.signal);
  await rm(tree, { recursive: true, force: true });
  await rm(k, { recursive: true, force: true });
  return { size, modules: keep.length, missing };
}

const HERE = dirname(new URL(import.meta.url).pathname);

export async function initFiles(): Promise<{ init: Buffer; udhcpc: Buffer }> {
  return { init: await readFile(join(HERE, 'init')), udhcpc: await readFile(join(HERE, 'udhcpc.script')) };
}

/** `lpmos` on PATH runs the bundled agent with the ramdisk's node. */
export const LPMOS_WRAPPER = '#!/bin/sh\nexec /usr/lib/lpmos/bin/node /usr/lib/lpmos/lib/agent.mjs "$@"\n';

/**
 * reboot/poweroff/halt: the ramdisk has no init system (PID 1 is a shell script that ignores the signals
 * busybox would send it), so these sync and call reboot(2) directly (`busybox … -f`).
 */
export const POWER_COMMANDS: ReadonlyMap<string, string> = new Map(
  ['reboot', 'poweroff', 'halt'].map((c) => [`usr/local/sbin/${c}`, `#!/bin/sh\nsync\nexec busybox ${c} -f\n`]),
);

export async function buildAgentLayer(ctx: LayerContext, bundle: AgentBundle, outFile: string): Promise<number> {
  const tree = join(ctx.scratch, 'agent');
  const { init, udhcpc } = await initFiles();
  const put = async (rel: string, data: Buffer | string, mode: number) => {
    await mkdir(dirname(join(tree, rel)), { recursive: true });
    await writeFile(join(tree, rel), data);
    await chmod(join(tree, rel), mode);
  };
  await put('init', init, 0o755);
  await put('usr/lib/lpmos/udhcpc.script', udhcpc, 0o755);
  await put('usr/lib/lpmos/lib/agent.mjs', bundle.code, 0o644);
  for (const [rel, data] of bundle.files) await put(join('usr/lib/lpmos', rel), data, 0o644);
  await put('usr/local/bin/lpmos', LPMOS_WRAPPER, 0o755);
  for (const [rel, text] of POWER_COMMANDS) await put(rel, text, 0o755);
  const size = await packTree(tree, outFile, ctx.compression, ctx.signal);
  await rm(tree, { recursive: true, force: true });
  return size;
}
