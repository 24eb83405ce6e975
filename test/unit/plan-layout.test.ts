import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LpmosError } from '../../core/errors.ts';
import type { Disk } from '../../core/model/inventory.ts';
import { storageSchema } from '../../core/model/storage.ts';
import { selectDisks } from '../../installers/plan/disks.ts';
import { GiB, MiB, mdReserve, partitionDevice, raidSize, resolveLayout } from '../../installers/plan/layout.ts';

function disk(name: string, size: number, extra: Partial<Disk> = {}): Disk {
  return { name, path: `/dev/${name}`, sizeBytes: size, model: 'QEMU HARDDISK', vendor: 'ATA', serial: `SN-${name}`, wwn: null, rotational: true, removable: false, transport: 'sata', byPath: null, hctl: null, logicalSectorBytes: 512, physicalSectorBytes: 512, ...extra };
}
const storage = (s: object) => storageSchema.parse(s);

function fails(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof LpmosError);
    assert.equal(e.code, 'E_VALIDATION');
    const text = e.details.map((d) => `${d.path}: ${d.message}`).join('\n');
    for (const f of fragments) assert.ok(text.includes(f), `expected ${JSON.stringify(f)} in:\n${text}`);
    return true;
  });
}

describe('disk selection by hints', () => {
  const inv = [disk('sda', 500 * GiB), disk('sdb', 8 * GiB), disk('nvme0n1', 960 * GiB, { rotational: false, transport: 'nvme', model: 'SAMSUNG MZQL2960', serial: 'S6' }), disk('sdc', 16 * GiB, { removable: true }), disk('loop0', 10 * GiB)];

  it('without hints takes the smallest eligible disk (never removable, loop or tiny ones)', () => {
    const s = storage({ disks: [{ id: 'd0' }], filesystems: [{ device: 'd0', type: 'ext4', mount: '/' }] });
    assert.equal(selectDisks(s.disks, inv).get('d0')?.name, 'sdb');
  });
  it('matches model, serial, rotational and size bounds; the most specific wish chooses first', () => {
    const s = storage({ disks: [{ id: 'any' }, { id: 'fast', match: { rotational: false, model: 'samsung' } }, { id: 'big', match: { minSize: '100G', rotational: true } }], filesystems: [{ device: 'fast', type: 'ext4', mount: '/' }] });
    const m = selectDisks(s.disks, inv);
    assert.equal(m.get('fast')?.name, 'nvme0n1');
    assert.equal(m.get('big')?.name, 'sda');
    assert.equal(m.get('any')?.name, 'sdb');
  });
  it('names the wish that cannot be met and the disks there are', () => {
    const s = storage({ disks: [{ id: 'd0', match: { serial: 'NOPE' } }], filesystems: [{ device: 'd0', type: 'ext4', mount: '/' }] });
    fails(() => selectDisks(s.disks, inv), 'storage.disks[d0]', 'serial=NOPE', 'sdb 8.0 GiB');
  });
  it('two wishes never get the same disk', () => {
    const s = storage({ disks: [{ id: 'a', match: { name: 'sdb' } }, { id: 'b', match: { name: '/dev/sdb' } }], filesystems: [{ device: 'a', type: 'ext4', mount: '/' }] });
    fails(() => selectDisks(s.disks, inv), 'storage.disks[');
  });
});

describe('layout resolution', () => {
  it('names partitions like the kernel does', () => {
    assert.equal(partitionDevice('/dev/sda', 2), '/dev/sda2');
    assert.equal(partitionDevice('/dev/nvme0n1', 2), '/dev/nvme0n1p2');
    assert.equal(partitionDevice('/dev/vda', 1), '/dev/vda1');
  });
  it('aligns partitions to 1 MiB and gives the rest to the rest', () => {
    const s = storage({ disks: [{ id: 'd0' }], partitions: [{ id: 'bios', disk: 'd0', size: '1MiB', type: 'bios-boot' }, { id: 'esp', disk: 'd0', size: '200M', type: 'esp' }, { id: 'swap', disk: 'd0', size: '10%' }, { id: 'root', disk: 'd0', size: 'rest' }], filesystems: [{ device: 'esp', type: 'vfat', mount: '/boot/efi' }, { device: 'swap', type: 'swap' }, { device: 'root', type: 'ext4', mount: '/' }] });
    const l = resolveLayout(s, selectDisks(s.disks, [disk('vda', 8 * GiB)]));
    const [bios, esp, swap, root] = l.partitions;
    assert.equal(bios?.start, MiB);
    assert.equal(esp?.size, 191 * MiB, '200 MB rounded up to whole MiB');
    assert.equal(swap?.size, Math.floor(((8 * GiB - 2 * MiB) * 0.1) / MiB) * MiB);
    assert.equal(root?.device, '/dev/vda4');
    const end = (root?.start ?? 0) + (root?.size ?? 0);
    assert.ok(end <= 8 * GiB - MiB, 'leaves room for the GPT backup');
    for (const p of l.partitions) assert.equal(p.start % MiB, 0);
    assert.equal(l.filesystems.find((f) => f.mount === '/')?.device, '/dev/vda4');
  });
  it('RAID sizes follow the level', () => {
    const m = 10 * GiB;
    const d = m - mdReserve(m);
    assert.equal(raidSize(1, 2, m), d);
    assert.equal(raidSize(0, 2, m), 2 * d);
    assert.equal(raidSize(5, 3, m), 2 * d);
    assert.equal(raidSize(6, 4, m), 2 * d);
    assert.equal(raidSize(10, 4, m), 2 * d);
  });
  it('RAID 1 + LVM resolves devices and sizes', () => {
    const s = storage({
      disks: [{ id: 'd0' }, { id: 'd1' }],
      partitions: [{ id: 'e0', disk: 'd0', size: '256MiB', type: 'esp' }, { id: 'e1', disk: 'd1', size: '256MiB', type: 'esp' }, { id: 'r0', disk: 'd0', size: 'rest', type: 'raid' }, { id: 'r1', disk: 'd1', size: 'rest', type: 'raid' }],
      raid: [{ id: 'md0', level: 1, members: ['r0', 'r1'] }],
      lvm: [{ name: 'vg0', pvs: ['md0'], lvs: [{ name: 'root', size: '60%' }, { name: 'swap', size: '512MiB' }, { name: 'var', size: 'rest' }] }],
      filesystems: [{ device: 'e0', type: 'vfat', mount: '/boot/efi' }, { device: 'vg0/root', type: 'ext4', mount: '/' }, { device: 'vg0/var', type: 'xfs', mount: '/var' }, { device: 'vg0/swap', type: 'swap' }],
    });
    const l = resolveLayout(s, selectDisks(s.disks, [disk('vda', 8 * GiB), disk('vdb', 10 * GiB)]));
    assert.deepEqual(l.raid[0]?.members, ['/dev/vda2', '/dev/vdb2']);
    const vg = l.vgs[0]!;
    assert.ok(vg.size < (l.raid[0]?.size ?? 0) && vg.size % (4 * MiB) === 0);
    const total = l.lvs.reduce((a, lv) => a + lv.size, 0);
    assert.ok(total <= vg.size && total > vg.size - 8 * MiB, 'rest takes what is left');
    assert.equal(l.filesystems.find((f) => f.mount === '/')?.device, '/dev/vg0/root');
  });
  it('refuses a layout too big for the disks, saying what it needs and what there is', () => {
    const s = storage({ disks: [{ id: 'd0' }], partitions: [{ id: 'swap', disk: 'd0', size: '16GiB' }, { id: 'root', disk: 'd0', size: '100GiB' }], filesystems: [{ device: 'swap', type: 'swap' }, { device: 'root', type: 'ext4', mount: '/' }] });
    fails(() => resolveLayout(s, selectDisks(s.disks, [disk('vda', 8 * GiB)])), 'needs 116.00 GiB', '/dev/vda has 8.00 GiB');
  });
  it('refuses logical volumes larger than their group and a too small root', () => {
    const s = storage({ disks: [{ id: 'd0' }], lvm: [{ name: 'vg0', pvs: ['d0'], lvs: [{ name: 'root', size: '512MiB' }, { name: 'big', size: '20G' }] }], filesystems: [{ device: 'vg0/root', type: 'ext4', mount: '/' }, { device: 'vg0/big', type: 'xfs', mount: '/srv' }] });
    fails(() => resolveLayout(s, selectDisks(s.disks, [disk('vda', 8 * GiB)])), 'storage.lvm[vg0]', 'volume group has', 'minimal install needs 1.00 GiB');
  });
  it('MBR: at most four partitions', () => {
    const s = storage({ partitionTable: 'mbr', disks: [{ id: 'd0' }], partitions: [1, 2, 3, 4].map((i) => ({ id: `p${i}`, disk: 'd0', size: '100MiB' })).concat([{ id: 'root', disk: 'd0', size: 'rest' }]), filesystems: [{ device: 'root', type: 'ext4', mount: '/' }] });
    fails(() => resolveLayout(s, selectDisks(s.disks, [disk('vda', 8 * GiB)])), 'MBR holds 4 primary partitions');
  });
});
