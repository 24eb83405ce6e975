// Resolving a profile's storage layout on the chosen disks into exact byte sizes and device
// paths: partitions (1 MiB aligned, GPT/MBR overhead), mdadm arrays (size by RAID level, minus
// the 1.2 superblock's data offset), LVM (4 MiB extents), filesystems. Pure. A layout that does
// not fit is refused here, before anything is written, with what it needs and what there is.
import { ErrorCode, LpmosError, type ErrorDetail } from '../../core/errors.ts';
import type { Disk } from '../../core/model/inventory.ts';
import type { Size } from '../../core/model/common.ts';
import type { Storage } from '../../core/model/storage.ts';

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;
const EXTENT = 4 * MiB;
/** The smallest root filesystem a minimal Debian install fits in (minbase + kernel ≈ 720 MB unpacked). */
export const MIN_ROOT = 1 * GiB;

export interface ResolvedPartition { id: string; disk: string; device: string; number: number; start: number; size: number; type: Storage['partitions'][number]['type'] }
export interface ResolvedRaid { id: string; level: number; device: string; members: string[]; spares: string[]; size: number; metadata: '1.0' | '1.2' }
export interface ResolvedLv { vg: string; name: string; device: string; size: number }
export interface ResolvedVg { name: string; pvs: string[]; size: number; extents: number }
export interface ResolvedFs { device: string; source: string; type: Storage['filesystems'][number]['type']; mount?: string; label?: string; options?: string; size: number }
export interface Layout {
  partitionTable: 'gpt' | 'mbr';
  disks: { id: string; device: string; size: number }[];
  partitions: ResolvedPartition[];
  raid: ResolvedRaid[];
  vgs: ResolvedVg[];
  lvs: ResolvedLv[];
  filesystems: ResolvedFs[];
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;
const alignDown = (n: number, a: number): number => Math.floor(n / a) * a;
export const fmt = (b: number): string => (b >= GiB ? `${(b / GiB).toFixed(2)} GiB` : `${(b / MiB).toFixed(0)} MiB`);

/** `/dev/sda` + 1 → `/dev/sda1`; `/dev/nvme0n1` + 1 → `/dev/nvme0n1p1` (names ending in a digit get "p"). */
export function partitionDevice(disk: string, n: number): string {
  return /\d$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`;
}

/** Space mdadm keeps on each member before the data (1.2 superblock + data offset; up to 128 MiB). */
export function mdReserve(memberSize: number): number {
  return alignUp(Math.min(128 * MiB, Math.max(MiB, memberSize / 64)), MiB) + MiB;
}

export function raidSize(level: number, members: number, smallest: number): number {
  const m = smallest - mdReserve(smallest);
  switch (level) {
    case 0: return members * m;
    case 1: return m;
    case 5: return (members - 1) * m;
    case 6: return (members - 2) * m;
    case 10: return Math.floor(members / 2) * m;
    default: throw new LpmosError(ErrorCode.Validation, `unknown RAID level ${level}`);
  }
}

/** Splits `total` among sizes: fixed bytes (aligned up), percent of total (aligned down), one `rest`. */
function allot(sizes: Size[], total: number, align: number): { sizes: number[]; need: number } {
  const out = sizes.map((s) => ('bytes' in s ? alignUp(s.bytes, align) : 'percent' in s ? alignDown((total * s.percent) / 100, align) : 0));
  const fixed = out.reduce((a, b) => a + b, 0);
  const restIdx = sizes.findIndex((s) => 'rest' in s);
  if (restIdx >= 0) out[restIdx] = alignDown(total - fixed, align);
  return { sizes: out, need: fixed + (restIdx >= 0 ? align : 0) };
}

export function resolveLayout(storage: Storage, disks: Map<string, Disk>): Layout {
  const details: ErrorDetail[] = [];
  const sizeOf = new Map<string, number>();
  const deviceOf = new Map<string, string>();
  const layout: Layout = { partitionTable: storage.partitionTable, disks: [], partitions: [], raid: [], vgs: [], lvs: [], filesystems: [] };

  for (const d of storage.disks) {
    const disk = disks.get(d.id);
    if (!disk) throw new LpmosError(ErrorCode.Internal, `disk "${d.id}" was not selected`);
    layout.disks.push({ id: d.id, device: disk.path, size: disk.sizeBytes });
    sizeOf.set(d.id, disk.sizeBytes);
    deviceOf.set(d.id, disk.path);
  }

  for (const d of layout.disks) {
    const parts = storage.partitions.filter((p) => p.disk === d.id);
    if (!parts.length) continue;
    if (storage.partitionTable === 'mbr' && parts.length > 4) details.push({ path: `storage.partitions (disk ${d.id})`, message: `MBR holds 4 primary partitions, the layout has ${parts.length}` });
    if (storage.partitionTable === 'mbr' && d.size > 2 * 2 ** 40) details.push({ path: `storage.disks[${d.id}]`, message: `MBR cannot address ${fmt(d.size)}: use GPT` });
    // 1 MiB before the first partition (alignment, GPT header); 1 MiB at the end (GPT backup).
    const usable = alignDown(d.size, MiB) - 2 * MiB;
    const { sizes, need } = allot(parts.map((p) => p.size), usable, MiB);
    if (need > usable) details.push({ path: `storage.partitions (disk ${d.id})`, message: `needs ${fmt(need)}, disk ${d.device} has ${fmt(usable)} usable` });
    let start = MiB;
    parts.forEach((p, i) => {
      const size = sizes[i] ?? 0;
      const device = partitionDevice(d.device, i + 1);
      layout.partitions.push({ id: p.id, disk: d.id, device, number: i + 1, start, size, type: p.type });
      sizeOf.set(p.id, size);
      deviceOf.set(p.id, device);
      start += size;
    });
  }

  for (const r of storage.raid) {
    const memberSizes = r.members.map((m) => sizeOf.get(m) ?? 0);
    const smallest = Math.min(...memberSizes);
    const size = raidSize(r.level, r.members.length, smallest);
    if (size < MiB) details.push({ path: `storage.raid[${r.id}]`, message: `members of ${fmt(smallest)} leave no room for data` });
    const device = `/dev/md/${r.id}`;
    layout.raid.push({ id: r.id, level: r.level, device, members: r.members.map((m) => deviceOf.get(m) ?? m), spares: r.spares.map((m) => deviceOf.get(m) ?? m), size, metadata: r.metadata });
    sizeOf.set(r.id, size);
    deviceOf.set(r.id, device);
  }

  for (const vg of storage.lvm) {
    const pvSizes = vg.pvs.map((pv) => Math.max(0, (sizeOf.get(pv) ?? 0) - MiB)); // PV label + metadata area
    const extents = pvSizes.reduce((a, s) => a + Math.floor(s / EXTENT), 0);
    const total = extents * EXTENT;
    layout.vgs.push({ name: vg.name, pvs: vg.pvs.map((pv) => deviceOf.get(pv) ?? pv), size: total, extents });
    const { sizes, need } = allot(vg.lvs.map((lv) => lv.size), total, EXTENT);
    if (need > total) details.push({ path: `storage.lvm[${vg.name}]`, message: `logical volumes need ${fmt(need)}, volume group has ${fmt(total)}` });
    vg.lvs.forEach((lv, i) => {
      const device = `/dev/${vg.name}/${lv.name}`;
      const size = sizes[i] ?? 0;
      layout.lvs.push({ vg: vg.name, name: lv.name, device, size });
      sizeOf.set(`${vg.name}/${lv.name}`, size);
      deviceOf.set(`${vg.name}/${lv.name}`, device);
    });
  }

  for (const f of storage.filesystems) {
    const size = sizeOf.get(f.device) ?? 0;
    const device = deviceOf.get(f.device) ?? f.device;
    layout.filesystems.push({ device, source: f.device, type: f.type, size, ...(f.mount ? { mount: f.mount } : {}), ...(f.label ? { label: f.label } : {}), ...(f.options ? { options: f.options } : {}) });
    if (f.mount === '/' && size < MIN_ROOT) details.push({ path: `storage.filesystems[${f.device}]`, message: `the root filesystem gets ${fmt(size)}, a minimal install needs ${fmt(MIN_ROOT)}` });
    if (f.type === 'vfat' && size < 32 * MiB) details.push({ path: `storage.filesystems[${f.device}]`, message: `vfat (FAT32) needs at least 32 MiB, gets ${fmt(size)}` });
  }

  if (details.length) throw new LpmosError(ErrorCode.Validation, 'the layout does not fit this machine\'s disks; nothing was written', { details });
  return layout;
}
