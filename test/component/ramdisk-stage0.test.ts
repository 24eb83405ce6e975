// boot/ramdisk/stage0.ts + stage0-init: stage 0 unpacks a layered ramdisk it finds as a file (as iPXE
// wraps it), in order (a later layer's file wins, as with the kernel), keeps the file for the agent,
// removes itself and runs the ramdisk's /init; a ramdisk of another build or with a damaged layer stops
// with an error that names it, and the ramdisk's /init does not run. Real stage 0 (Debian's
// busybox-static, the host's zstd) run in a chroot. Needs root (chroot) and zstd, xz, cpio.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { extractDeb, listTree } from '../../boot/assets/apt.ts';
import { obtainPackage } from '../../boot/assets/gather.ts';
import { debCacheDir } from '../../boot/cache.ts';
import { packTree, type CompressionKind } from '../../boot/ramdisk/archive.ts';
import { buildStage0, KEPT_INITRD_PATH } from '../../boot/ramdisk/stage0.ts';

const skip = process.getuid?.() !== 0 ? 'needs root (chroot)' : false;
let dir: string;
let initrd: Buffer;
let stage0: string;
let big: Buffer;
const layers: { size: number; kind: CompressionKind }[] = [];

function put(tree: string, rel: string, data: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(join(tree, rel)), { recursive: true });
  writeFileSync(join(tree, rel), data);
  chmodSync(join(tree, rel), mode);
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), `lpm-stage0-${process.pid}-`));
  const pkg = await obtainPackage({ name: 'busybox-static' }, debCacheDir());
  await extractDeb(pkg.deb, join(dir, 'bb'));
  const bb = (await listTree(join(dir, 'bb'))).find((p) => /(^|\/)bin\/busybox$/.test(p))!;
  big = randomBytes(3 * 2 ** 20);
  const trees: [string, CompressionKind, (t: string) => void][] = [
    ['a', 'zstd', (t) => {
      put(t, 'bin/busybox', readFileSync(join(dir, 'bb', bb)), 0o755);
      symlinkSync('busybox', join(t, 'bin', 'sh'));
      put(t, 'init', '#!/bin/sh\n/bin/busybox echo "real init ran" > /ran\n', 0o755);
      put(t, 'etc/a.txt', 'a');
    }],
    ['b', 'xz', (t) => {
      put(t, 'etc/a.txt', 'a2');
      put(t, 'usr/share/big', big);
    }],
    ['c', 'zstd', (t) => put(t, 'etc/c.txt', 'c')],
  ];
  const parts: Buffer[] = [];
  for (const [name, kind, fill] of trees) {
    const t = join(dir, `layer-${name}`);
    mkdirSync(t);
    fill(t);
    const out = join(dir, `${name}.cpio`);
    layers.push({ size: await packTree(t, out, { kind, level: 3 }), kind });
    parts.push(readFileSync(out));
  }
  initrd = Buffer.concat(parts);
  stage0 = join(dir, 'stage0.img');
  await buildStage0({ scratch: join(dir, 'scratch'), debCache: debCacheDir(), layers, initrdSize: initrd.length, compression: { kind: 'zstd', level: 3 } }, stage0);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A fresh root with stage 0 unpacked (as the kernel would) and `kept` as the wrapped ramdisk file. */
function rootWith(name: string, kept: Buffer): string {
  const root = join(dir, name);
  mkdirSync(root);
  const r = spawnSync('bash', ['-c', 'zstd -dc "$1" | cpio -idm --quiet', 'x', stage0], { cwd: root });
  assert.equal(r.status, 0, r.stderr.toString());
  writeFileSync(join(root, KEPT_INITRD_PATH), kept);
  return root;
}

/** Runs stage 0 in the chroot; a failing stage 0 keeps a shell (it is PID 1 on a machine): ended after `seconds`. */
function runStage0(root: string, seconds: number): { status: number | null; out: string } {
  const r = spawnSync('timeout', ['-s', 'KILL', String(seconds), 'chroot', root, '/stage0/init'], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('stage 0 unpacks every layer in order, keeps the ramdisk file, removes itself and runs the ramdisk /init', { skip }, () => {
  const root = rootWith('ok', initrd);
  const r = runStage0(root, 120);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /lpmos-stage0: unpacked 3 layers of \/lpmos-initrd\.img \(\d+ bytes\); kept for the agent/);
  assert.equal(readFileSync(join(root, 'ran'), 'utf8'), 'real init ran\n', 'the ramdisk /init ran');
  assert.equal(readFileSync(join(root, 'etc/a.txt'), 'utf8'), 'a2', 'a later layer wins');
  assert.equal(readFileSync(join(root, 'etc/c.txt'), 'utf8'), 'c');
  assert.equal(createHash('sha256').update(readFileSync(join(root, 'usr/share/big'))).digest('hex'), createHash('sha256').update(big).digest('hex'));
  assert.ok(readFileSync(join(root, KEPT_INITRD_PATH)).equals(initrd), 'the ramdisk file is left as it came');
  assert.equal(existsSync(join(root, 'stage0')), false, 'stage 0 removed itself');
});

test('a ramdisk of another size stops stage 0 with the sizes named; the ramdisk /init does not run', { skip }, () => {
  const root = rootWith('short', initrd.subarray(0, initrd.length - 1));
  const r = runStage0(root, 4);
  assert.match(r.out, new RegExp(`has ${initrd.length - 1} bytes, this stage 0 was built for a ramdisk of ${initrd.length} bytes`));
  assert.match(r.out, /cannot start the agent/);
  assert.equal(existsSync(join(root, 'ran')), false);
});

test('a damaged layer stops stage 0 naming the layer; the ramdisk /init does not run', { skip }, () => {
  const bad = Buffer.from(initrd);
  const mid = layers[0]!.size + Math.floor(layers[1]!.size / 2);
  for (let i = 0; i < 64; i++) bad[mid + i] = bad[mid + i]! ^ 0xff;
  const root = rootWith('damaged', bad);
  const r = runStage0(root, 10);
  assert.match(r.out, new RegExp(`layer 2 \\(${layers[1]!.size} bytes at ${layers[0]!.size}, xz\\) did not unpack`));
  assert.equal(existsSync(join(root, 'ran')), false);
});

test('stage 0 refuses layers that do not add up to the ramdisk', { skip }, async () => {
  await assert.rejects(buildStage0({ scratch: join(dir, 'scratch2'), debCache: debCacheDir(), layers, initrdSize: initrd.length + 1, compression: { kind: 'zstd', level: 3 } }, join(dir, 'no.img')), /layers add up to \d+ bytes, initrd\.img has \d+/);
  assert.equal(existsSync(join(dir, 'no.img')), false);
});
