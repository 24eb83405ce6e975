import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compressorArgs } from '../../boot/ramdisk/archive.ts';
import { hashKey } from '../../boot/ramdisk/build.ts';
import { debianSources, keepModuleByPath, modinfoDepends, moduleClosure, moduleName } from '../../boot/ramdisk/spec.ts';

test('module names as the kernel sees them', () => {
  assert.equal(moduleName('drivers/net/ethernet/intel/ixgbe/ixgbe.ko'), 'ixgbe');
  assert.equal(moduleName('drivers/md/dm-raid.ko'), 'dm_raid');
  assert.equal(moduleName('fs/btrfs/btrfs.ko.xz'), 'btrfs');
});

test('kept by path: storage, network, RAID, filesystems; dropped: GPU, sound, wireless', () => {
  for (const p of ['drivers/nvme/host/nvme.ko', 'drivers/scsi/megaraid/megaraid_sas.ko', 'drivers/md/raid456.ko', 'drivers/net/ethernet/intel/ixgbe/ixgbe.ko',
    'drivers/net/virtio_net.ko', 'drivers/net/bonding/bonding.ko', 'fs/xfs/xfs.ko', 'fs/btrfs/btrfs.ko', 'fs/fat/vfat.ko', 'net/8021q/8021q.ko', 'lib/raid6/raid6_pq.ko']) {
    assert.ok(keepModuleByPath(p), p);
  }
  for (const p of ['drivers/gpu/drm/amd/amdgpu/amdgpu.ko', 'sound/pci/hda/snd-hda-intel.ko', 'drivers/net/wireless/intel/iwlwifi/iwlwifi.ko',
    'drivers/media/usb/uvc/uvcvideo.ko', 'drivers/bluetooth/btusb.ko', 'drivers/net/virtio_net.ko.bak', 'drivers/net/can/vcan.ko']) {
    assert.ok(!keepModuleByPath(p), p);
  }
});

test('the closure adds dependencies outside the kept paths and reports unknown ones', () => {
  const deps: Record<string, string[]> = {
    'drivers/net/ethernet/intel/ixgbe/ixgbe.ko': ['mdio', 'dca', 'ptp'],
    'drivers/net/mdio.ko': [],
    'drivers/dca/dca.ko': [],
    'drivers/ptp/ptp.ko': ['pps_core'],
    'drivers/pps/pps_core.ko': [],
    'drivers/gpu/drm/drm.ko': [],
    'fs/btrfs/btrfs.ko': ['raid6_pq', 'xor', 'builtin_thing'],
    'lib/raid6/raid6_pq.ko': [],
    'crypto/xor.ko': [],
  };
  const { keep, missing } = moduleClosure(Object.keys(deps), (p) => deps[p] ?? []);
  assert.ok(keep.includes('drivers/net/mdio.ko'), 'mdio pulled in by ixgbe although drivers/net/mdio.ko is not a kept path');
  assert.ok(keep.includes('drivers/pps/pps_core.ko'));
  assert.ok(!keep.includes('drivers/gpu/drm/drm.ko'));
  assert.deepEqual(missing, ['builtin_thing']);
  assert.deepEqual(keep, [...keep].sort());
});

test('depends= is read from the .modinfo strings of a module file', () => {
  const ko = Buffer.concat([Buffer.from('\x7fELF....'), Buffer.from('\0license=GPL\0depends=mdio,dca,ptp\0retpoline=Y\0name=ixgbe\0vermagic=6.1.0\0')]);
  assert.deepEqual(modinfoDepends(ko), ['mdio', 'dca', 'ptp']);
  assert.deepEqual(modinfoDepends(Buffer.from('\0license=GPL\0depends=\0name=virtio_net\0')), []);
  assert.deepEqual(modinfoDepends(Buffer.from('no modinfo here')), []);
});

test('only the Debian archive entries of the host sources go to mmdebstrap', () => {
  const deb822 = [
    'Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    'Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main',
    'Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main',
    'Types: deb\nURIs: http://mirror.lab/debian/\nSuites: bookworm\nComponents: main\nEnabled: no',
    'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main',
  ].join('\n\n');
  const kept = debianSources(deb822, true);
  assert.match(kept, /URIs: http:\/\/deb\.debian\.org\/debian\n/);
  assert.match(kept, /debian-security/);
  assert.doesNotMatch(kept, /nodesource|mirror\.lab|deb-src|snapshot/);
  const oneLine = 'deb http://deb.debian.org/debian bookworm main\n# deb http://x/debian bookworm main\ndeb https://packages.cloud.google.com/apt cloud-sdk main\ndeb http://mirror.lab/debian/ bookworm main';
  assert.equal(debianSources(oneLine, false), 'deb http://deb.debian.org/debian bookworm main\ndeb http://mirror.lab/debian/ bookworm main');
});

test('compressor arguments: xz with the CRC32 check the kernel requires; zstd with a bounded window', () => {
  assert.deepEqual(compressorArgs({ kind: 'xz', level: 6 }), ['xz', ['-6', '--check=crc32', '-T2', '-c', '-q']]);
  const [cmd, args] = compressorArgs({ kind: 'zstd', level: 19 });
  assert.equal(cmd, 'zstd');
  assert.ok(args.includes('--long=25') && args.includes('-19') && !args.includes('--ultra'));
  assert.ok(compressorArgs({ kind: 'zstd', level: 22 })[1].includes('--ultra'));
});

test('cache keys are stable under key order and change with any input', () => {
  assert.equal(hashKey({ a: 1, b: [1, 2] }), hashKey({ b: [1, 2], a: 1 }));
  assert.notEqual(hashKey({ a: 1, b: [1, 2] }), hashKey({ a: 1, b: [2, 1] }));
  assert.match(hashKey('x'), /^[0-9a-f]{20}$/);
});
