// The ramdisk cache on a real filesystem: the build lock serializes builders and takes over a dead one's lock;
// pruning keeps the newest builds and the layers they use, and removes what killed builds left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pruneCache } from '../../boot/ramdisk/build.ts';
import { withLock } from '../../boot/ramdisk/lock.ts';

/** A pid that certainly belongs to no process: a child that has exited and been reaped. */
const deadPid = (): number => spawnSync('true').pid ?? 999_999;

test('the build lock runs one builder at a time and takes over a lock whose owner is dead', async () => {
  const dir = await mkdtemp(join(tmpdir(), `lpmos-lock-${process.pid}-`));
  try {
    const lock = join(dir, 'k.lock');
    const order: string[] = [];
    const job = (name: string) => withLock(lock, async () => {
      order.push(`${name}+`);
      await new Promise((r) => setTimeout(r, 300));
      order.push(`${name}-`);
    });
    await Promise.all([job('a'), job('b')]);
    assert.ok(order.join(' ') === 'a+ a- b+ b-' || order.join(' ') === 'b+ b- a+ a-', order.join(' '));

    await mkdir(lock);
    await writeFile(join(lock, 'pid'), String(deadPid()));
    const t0 = Date.now();
    assert.equal(await withLock(lock, async () => 'ran'), 'ran');
    assert.ok(Date.now() - t0 < 2000, 'a dead owner\'s lock is taken at once');
    assert.deepEqual(await readdir(dir), [], 'the lock is released');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('pruning keeps the newest builds and their layers, drops the rest and dead builders\' scratch', async () => {
  const cache = await mkdtemp(join(tmpdir(), `lpmos-prune-${process.pid}-`));
  try {
    await mkdir(join(cache, 'layers'));
    const key = (i: number) => i.toString(16).padStart(20, '0');
    for (let i = 1; i <= 4; i++) {
      const d = join(cache, key(i));
      await mkdir(d);
      // builds 1–2 use base 1 / runtime 1, builds 3–4 base 2 / runtime 2
      const layer = i <= 2 ? 1 : 2;
      await writeFile(join(d, 'manifest.json'), JSON.stringify({ layers: [{ name: 'base', key: key(100 + layer) }, { name: 'runtime', key: key(200 + layer) }, { name: 'agent', key: key(300 + i) }] }));
      await utimes(join(d, 'manifest.json'), i * 1000, i * 1000);
    }
    for (const l of [1, 2]) {
      await writeFile(join(cache, 'layers', `base-${key(100 + l)}.cpio.zstd`), 'b');
      await writeFile(join(cache, 'layers', `runtime-${key(200 + l)}.cpio.zstd`), 'r');
      await writeFile(join(cache, 'layers', `runtime-${key(200 + l)}.json`), '{}');
      await writeFile(join(cache, 'layers', `vmlinuz-${key(200 + l)}`), 'k');
    }
    await mkdir(join(cache, `.build-${deadPid()}-abc`));

    await pruneCache(cache, 2);
    assert.deepEqual((await readdir(cache)).sort(), [key(3), key(4), 'layers']);
    assert.deepEqual((await readdir(join(cache, 'layers'))).sort(), [`base-${key(102)}.cpio.zstd`, `runtime-${key(202)}.cpio.zstd`, `runtime-${key(202)}.json`, `vmlinuz-${key(202)}`]);

    // A live builder's scratch (this process) means a build is under way: nothing is touched.
    await mkdir(join(cache, `.build-${process.pid}-xyz`));
    await pruneCache(cache, 1);
    assert.ok((await readdir(cache)).includes(key(3)));
  } finally {
    await rm(cache, { recursive: true, force: true });
  }
});
