// `boot assets` against the host's real apt and dpkg: files, manifest, idempotence, offline use of cached .debs,
// and the error for a package that cannot be had.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLpmosError } from '../../core/errors.ts';
import { gatherBootAssets, sha256File } from '../../boot/assets/gather.ts';
import { run } from '../../boot/exec.ts';

test('boot assets: loaders and kernel from Debian packages, manifest with hashes, idempotent', { timeout: 5 * 60_000 }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), `lpmos-assets-${process.pid}-`));
  try {
    const t0 = Date.now();
    const m = await gatherBootAssets({ outDir: out });
    t.diagnostic(`first run ${((Date.now() - t0) / 1000).toFixed(1)} s, ${m.files.length} files`);
    const byName = new Map(m.files.map((f) => [f.file, f]));
    for (const f of ['undionly.kpxe', 'ipxe.efi', 'snponly.efi', 'pxelinux.0', 'ldlinux.c32', 'menu.c32', 'shimx64.efi', 'grubx64.efi', 'vmlinuz']) {
      assert.ok(byName.has(f), `${f} in the manifest`);
    }
    for (const f of m.files) {
      assert.equal(await sha256File(join(out, f.file)), f.sha256, f.file);
      assert.equal((await stat(join(out, f.file))).size, f.size, f.file);
    }
    // EFI binaries are PE files ("MZ"); ipxe.efi came through its absolute symlink into /boot, from the package.
    for (const f of ['ipxe.efi', 'snponly.efi', 'shimx64.efi', 'grubx64.efi']) assert.equal((await readFile(join(out, f))).subarray(0, 2).toString(), 'MZ', f);
    assert.equal(byName.get('ipxe.efi')?.package, 'ipxe');
    assert.ok((byName.get('ipxe.efi')?.size ?? 0) > 100_000);
    assert.match(m.kernel?.package ?? '', /^linux-image-\d+\.\d+\.\d+-\d+-amd64$/);
    assert.equal(byName.get('vmlinuz')?.package, m.kernel?.package);
    assert.deepEqual(JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')), JSON.parse(JSON.stringify(m)));

    const before = (await stat(join(out, 'vmlinuz'))).mtimeMs;
    const t1 = Date.now();
    const again = await gatherBootAssets({ outDir: out });
    t.diagnostic(`second run ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    assert.deepEqual(again, m);
    assert.equal((await stat(join(out, 'vmlinuz'))).mtimeMs, before, 'nothing rewritten');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('boot assets: offline from a cached .deb apt does not know; a clear error when a package cannot be had', async () => {
  const dir = await mkdtemp(join(tmpdir(), `lpmos-assets-off-${process.pid}-`));
  try {
    // A package apt has never heard of, present only as a .deb in the cache: resolved and extracted without apt.
    const pkg = join(dir, 'pkg');
    await mkdir(join(pkg, 'DEBIAN'), { recursive: true });
    await mkdir(join(pkg, 'usr/lib/lpmos-test'), { recursive: true });
    await writeFile(join(pkg, 'DEBIAN/control'), 'Package: lpmos-test-offline\nVersion: 1:2.0-1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: test\n');
    await writeFile(join(pkg, 'usr/lib/lpmos-test/loader.bin'), 'LOADER');
    const cache = join(dir, 'debs');
    await mkdir(cache);
    await run('dpkg-deb', ['--root-owner-group', '-b', pkg, join(cache, 'lpmos-test-offline_1%3a2.0-1_all.deb')]);
    const out = join(dir, 'out');
    const m = await gatherBootAssets({ outDir: out, cacheDir: cache, packages: [{ name: 'lpmos-test-offline', files: [{ from: 'usr/lib/lpmos-test/loader.bin', to: 'loader.bin' }] }] });
    assert.deepEqual(m.files.map((f) => [f.file, f.package, f.version, f.size]), [['loader.bin', 'lpmos-test-offline', '1:2.0-1', 6]]);
    assert.equal(await readFile(join(out, 'loader.bin'), 'utf8'), 'LOADER');

    await assert.rejects(
      gatherBootAssets({ outDir: out, cacheDir: cache, packages: [{ name: 'lpmos-no-such-package', files: [{ from: 'x', to: 'x' }] }] }),
      (e) => isLpmosError(e, 'E_NOT_FOUND') && /lpmos-no-such-package cannot be had/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
