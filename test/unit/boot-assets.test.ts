import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLpmosError } from '../../core/errors.ts';
import {
  BOOT_ASSET_PACKAGES, buildManifest, debFileName, dependencyWithPrefix, kernelReleaseFromPath, parseControl,
  parseControlStanzas, planCopies, resolveLinkInTree, type AssetPackage,
} from '../../boot/assets/spec.ts';

const pkg = (name: string): AssetPackage => {
  const p = BOOT_ASSET_PACKAGES.find((x) => x.name === name);
  assert.ok(p, name);
  return p;
};

test('ipxe: the three loaders, ipxe.efi taken through its symlink', () => {
  // Listing of the Debian ipxe 1.0.0+git-20190125 package (dpkg-deb -c), files and symlinks.
  const tree = ['boot/ipxe.efi', 'boot/ipxe.lkrn', 'etc/grub.d/20_ipxe', 'usr/lib/ipxe/ipxe.efi', 'usr/lib/ipxe/ipxe.iso',
    'usr/lib/ipxe/ipxe.lkrn', 'usr/lib/ipxe/ipxe.pxe', 'usr/lib/ipxe/snponly.efi', 'usr/lib/ipxe/undionly.kkpxe', 'usr/lib/ipxe/undionly.kpxe'];
  assert.deepEqual(planCopies(pkg('ipxe'), tree), [
    { src: 'usr/lib/ipxe/undionly.kpxe', dest: 'undionly.kpxe' },
    { src: 'usr/lib/ipxe/ipxe.efi', dest: 'ipxe.efi' },
    { src: 'usr/lib/ipxe/snponly.efi', dest: 'snponly.efi' },
  ]);
});

test('an absolute symlink resolves inside the extracted tree, a relative one beside the link', () => {
  assert.equal(resolveLinkInTree('usr/lib/ipxe/ipxe.efi', '/boot/ipxe.efi'), 'boot/ipxe.efi');
  assert.equal(resolveLinkInTree('usr/lib/ipxe/ipxe.efi', '../../../boot/ipxe.efi'), 'boot/ipxe.efi');
  assert.equal(resolveLinkInTree('usr/lib/shim/a.efi', 'b.efi'), 'usr/lib/shim/b.efi');
  assert.equal(resolveLinkInTree('a/b', '/../../etc/passwd'), 'etc/passwd', 'never climbs above the tree');
});

test('syslinux modules: a glob onto the top level; the kernel: a glob onto one name', () => {
  const copies = planCopies(pkg('syslinux-common'), ['usr/lib/syslinux/modules/bios/ldlinux.c32', 'usr/lib/syslinux/modules/bios/menu.c32',
    'usr/lib/syslinux/modules/efi64/menu.c32', 'usr/lib/syslinux/memdisk']);
  assert.deepEqual(copies, [
    { src: 'usr/lib/syslinux/modules/bios/ldlinux.c32', dest: 'ldlinux.c32' },
    { src: 'usr/lib/syslinux/modules/bios/menu.c32', dest: 'menu.c32' },
  ]);
  const k = planCopies(pkg('linux-image-amd64'), ['boot/config-6.1.0-56-amd64', 'boot/vmlinuz-6.1.0-56-amd64']);
  assert.deepEqual(k, [{ src: 'boot/vmlinuz-6.1.0-56-amd64', dest: 'vmlinuz' }]);
  assert.throws(() => planCopies(pkg('linux-image-amd64'), ['boot/vmlinuz-1', 'boot/vmlinuz-2']), /matches 2 files/);
});

test('a package without its files is a clear E_NOT_FOUND naming each missing file; optional ones are skipped', () => {
  try {
    planCopies(pkg('ipxe'), ['usr/lib/ipxe/undionly.kpxe']);
    assert.fail('no error');
  } catch (e) {
    assert.ok(isLpmosError(e, 'E_NOT_FOUND'));
    assert.deepEqual(e.details.map((d) => d.path), ['usr/lib/ipxe/ipxe.efi', 'usr/lib/ipxe/snponly.efi']);
  }
  assert.deepEqual(planCopies(pkg('shim-helpers-amd64-signed'), ['usr/lib/shim/mmx64.efi.signed']), [{ src: 'usr/lib/shim/mmx64.efi.signed', dest: 'mmx64.efi' }]);
});

test('Secure Boot names: shim loads grubx64.efi from its own directory', () => {
  const all = BOOT_ASSET_PACKAGES.flatMap((p) => p.files.map((f) => f.to));
  for (const want of ['undionly.kpxe', 'ipxe.efi', 'snponly.efi', 'pxelinux.0', 'shimx64.efi', 'grubx64.efi', 'vmlinuz']) assert.ok(all.includes(want), want);
});

test('control fields, stanzas, the meta package dependency, the .deb name', () => {
  const text = 'Package: linux-image-amd64\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)\nDescription: Linux\n for 64-bit PCs\n\nPackage: ipxe\nVersion: 1.0.0\n';
  const f = parseControl(text);
  assert.equal(f.get('Version'), '6.1.192-2');
  assert.equal(f.get('Description'), 'Linux\nfor 64-bit PCs');
  assert.deepEqual(parseControlStanzas(text).map((s) => s.get('Package')), ['linux-image-amd64', 'ipxe']);
  assert.equal(dependencyWithPrefix(f.get('Depends') ?? '', 'linux-image-'), 'linux-image-6.1.0-56-amd64');
  assert.equal(dependencyWithPrefix('debconf | debconf-2.0, linux-image-6.1.0-9-amd64-unsigned | linux-image-6.1.0-9-amd64', 'linux-image-'), 'linux-image-6.1.0-9-amd64-unsigned');
  assert.equal(dependencyWithPrefix('libc6 (>= 2.36)', 'linux-image-'), undefined);
  assert.equal(debFileName('pxelinux', '3:6.04~git20190206.bf6db5b4+dfsg1-3', 'all'), 'pxelinux_3%3a6.04~git20190206.bf6db5b4+dfsg1-3_all.deb');
  assert.equal(kernelReleaseFromPath('boot/vmlinuz-6.1.0-56-amd64'), '6.1.0-56-amd64');
  assert.equal(kernelReleaseFromPath('boot/config-6.1.0-56-amd64'), undefined);
});

test('manifest: sorted by file, one entry per file, a file from two packages is a conflict', () => {
  const e = (file: string, p = 'ipxe') => ({ file, sha256: 'a'.repeat(64), size: 1, package: p, version: '1' });
  const m = buildManifest([e('snponly.efi'), e('ipxe.efi'), e('ipxe.efi')], { package: 'linux-image-x', version: '1', release: 'x' });
  assert.deepEqual(m.files.map((f) => f.file), ['ipxe.efi', 'snponly.efi']);
  assert.equal(m.kind, 'lpmos-boot-assets');
  assert.equal(m.kernel?.release, 'x');
  assert.throws(() => buildManifest([e('menu.c32', 'syslinux-common'), e('menu.c32', 'other')]), /two packages/);
});

test('a pinned dependency gives the exact version: no second apt query for the kernel', async () => {
  const { exactDependency } = await import('../../boot/assets/spec.ts');
  assert.deepEqual(exactDependency('linux-image-6.1.0-56-amd64 (= 6.1.192-2)', 'linux-image-'), { name: 'linux-image-6.1.0-56-amd64', version: '6.1.192-2' });
  assert.deepEqual(exactDependency('linux-image-6.1.0-56-amd64 (>= 6.1)', 'linux-image-'), { name: 'linux-image-6.1.0-56-amd64' });
});
