// Shared inputs of the install tests: disks, profiles (BIOS GPT, UEFI RAID 1 + LVM, MBR), a spec,
// and golden-file comparison under test/fixtures/installers/.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Disk } from '../../core/model/inventory.ts';
import { profileSchema, type Profile } from '../../core/model/profile.ts';
import { selectDisks } from '../../installers/plan/disks.ts';
import { resolveLayout, type Layout } from '../../installers/plan/layout.ts';
import type { InstallSpec } from '../../installers/plan/types.ts';

export const GiB = 2 ** 30;
export const FIXTURES = join(import.meta.dirname, '../fixtures/installers');

export function disk(name: string, size: number): Disk {
  return { name, path: `/dev/${name}`, sizeBytes: size, model: 'QEMU HARDDISK', vendor: 'ATA', serial: `SN-${name}`, wwn: null, rotational: true, removable: false, transport: 'virtio', byPath: null, hctl: null, logicalSectorBytes: 512, physicalSectorBytes: 512 };
}

export const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx3ZXnWcYvS0Yx9pHnCq2Ufb8Zt0f6mGZQk1pZlJ5y3 ops@example';
export const HASH = '$6$rounds=5000$saltsalt$kq6mP1bUuW9x0nOC7YjUZrVxjSxw0Q1CGxVuC7EcpG1Qp0Lr7xI3nHn8Z3w2e3S4eUq1mKQk2RA0lZcZb7x9E1';

export function profile(storage: object, extra: object = {}): Profile {
  return profileSchema.parse({ kind: 'Profile', name: 'test', os: { name: 'debian', version: '12' }, storage, ...extra });
}

/** BIOS, one disk, GPT: BIOS boot + ESP (hybrid) + swap + ext4 root. */
export const biosStorage = {
  disks: [{ id: 'd0' }],
  partitions: [
    { id: 'bios', disk: 'd0', size: '1MiB', type: 'bios-boot' },
    { id: 'esp', disk: 'd0', size: '64MiB', type: 'esp' },
    { id: 'swap', disk: 'd0', size: '256MiB', type: 'swap' },
    { id: 'root', disk: 'd0', size: 'rest' },
  ],
  filesystems: [{ device: 'esp', type: 'vfat', mount: '/boot/efi' }, { device: 'swap', type: 'swap' }, { device: 'root', type: 'ext4', mount: '/', label: 'root' }],
};

/** UEFI (and BIOS boot partitions), two disks, RAID 1 with LVM on top. */
export const raidStorage = {
  disks: [{ id: 'd0', wipe: true }, { id: 'd1', wipe: true }],
  partitions: [
    { id: 'b0', disk: 'd0', size: '1MiB', type: 'bios-boot' },
    { id: 'e0', disk: 'd0', size: '256MiB', type: 'esp' },
    { id: 'r0', disk: 'd0', size: 'rest', type: 'raid' },
    { id: 'b1', disk: 'd1', size: '1MiB', type: 'bios-boot' },
    { id: 'e1', disk: 'd1', size: '256MiB', type: 'esp' },
    { id: 'r1', disk: 'd1', size: 'rest', type: 'raid' },
  ],
  raid: [{ id: 'md0', level: 1, members: ['r0', 'r1'] }],
  lvm: [{ name: 'vg0', pvs: ['md0'], lvs: [{ name: 'root', size: '4GiB' }, { name: 'swap', size: '512MiB' }, { name: 'var', size: 'rest' }] }],
  filesystems: [{ device: 'e0', type: 'vfat', mount: '/boot/efi' }, { device: 'e1', type: 'vfat', mount: '/boot/efi2' }, { device: 'vg0/root', type: 'ext4', mount: '/' }, { device: 'vg0/var', type: 'xfs', mount: '/var' }, { device: 'vg0/swap', type: 'swap' }],
};

export function layoutOf(p: Profile, disks: Disk[]): Layout {
  return resolveLayout(p.storage, selectDisks(p.storage.disks, disks));
}

export function spec(extra: Partial<InstallSpec> = {}): InstallSpec {
  return { machine: 'web-01', firmware: 'bios', mirror: 'http://10.0.0.1:8080/debian', target: '/target', hostname: 'web-01', seedUrl: 'http://10.0.0.1:8080', cacheDir: '/var/cache/lpmos/apt', ...extra };
}

/** Compares with test/fixtures/installers/<name>; UPDATE_GOLDEN=1 rewrites the file instead. */
export function golden(name: string, actual: string): void {
  const file = join(FIXTURES, name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
  assert.equal(actual, readFileSync(file, 'utf8'), `${name} differs from its golden file (UPDATE_GOLDEN=1 to accept)`);
}
