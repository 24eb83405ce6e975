// boot/ramdisk/stage0.ts's pure parts, and the contract between stage0-init and core/stage0.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KEPT_INITRD_PATH, STAGE0_RDINIT, layersText, parseLdd } from '../../boot/ramdisk/stage0.ts';

const script = readFileSync(join(import.meta.dirname, '..', '..', 'boot', 'ramdisk', 'stage0-init'), 'utf8');

test('stage0-init reads the file the boot script wraps the ramdisk as, and is the init the kernel argument names', () => {
  assert.match(script, new RegExp(`^F=${KEPT_INITRD_PATH.replace(/[.]/g, '\\.')}$`, 'm'));
  assert.equal(STAGE0_RDINIT, 'rdinit=/stage0/init');
  assert.match(script, /^#!\/stage0\/busybox sh\n/);
});

test('layersText: one line per layer, size and compression, in order', () => {
  assert.equal(layersText([{ size: 41310406, kind: 'zstd' }, { size: 12, kind: 'xz' }]), '41310406 zstd\n12 xz\n');
  assert.equal(layersText([]), '');
});

test('parseLdd: libraries by path and the loader; the vdso (no file) is left out', () => {
  const out = [
    '\tlinux-vdso.so.1 (0x00007ffd1f5e7000)',
    '\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f2a1c8b0000)',
    '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2a1c6cf000)',
    '\t/lib64/ld-linux-x86-64.so.2 (0x00007f2a1c8f4000)',
  ].join('\n');
  assert.deepEqual(parseLdd(out), [
    { path: '/lib/x86_64-linux-gnu/libz.so.1', name: 'libz.so.1' },
    { path: '/lib/x86_64-linux-gnu/libc.so.6', name: 'libc.so.6' },
    { path: '/lib64/ld-linux-x86-64.so.2', name: 'ld-linux-x86-64.so.2' },
  ]);
});
