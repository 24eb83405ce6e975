// Target disk selection by hints (as Ironic's root device hints): every disk a layout names is
// matched to one disk of the inventory. Pure; the most specific wishes choose first, and among
// candidates the smallest disk wins (Ironic's default), so big data disks are left alone.
import { ErrorCode, LpmosError, type ErrorDetail } from '../../core/errors.ts';
import type { Disk } from '../../core/model/inventory.ts';
import type { DiskHints, Storage } from '../../core/model/storage.ts';

const MIN_DISK = 1 * 2 ** 30; // never install to something smaller than 1 GiB (USB sticks, virtual media)

function eq(a: string | null | undefined, b: string | undefined): boolean {
  return b === undefined || (a ?? '').toLowerCase() === b.toLowerCase();
}

function bytesOf(size: DiskHints['minSize']): number | undefined {
  return size && 'bytes' in size ? size.bytes : undefined;
}

export function matchesHints(d: Disk, h: DiskHints): boolean {
  const wwn = (d.wwn ?? '').toLowerCase().replace(/^0x/, '');
  const min = bytesOf(h.minSize);
  const max = bytesOf(h.maxSize);
  return (
    eq(d.name, h.name?.replace(/^\/dev\//, '')) &&
    (h.model === undefined || (d.model ?? '').toLowerCase().includes(h.model.toLowerCase())) &&
    (h.vendor === undefined || (d.vendor ?? '').toLowerCase().includes(h.vendor.toLowerCase())) &&
    eq(d.serial, h.serial) &&
    (h.wwn === undefined || wwn === h.wwn.toLowerCase().replace(/^0x/, '')) &&
    eq(d.byPath, h.byPath) &&
    (h.rotational === undefined || d.rotational === h.rotational) &&
    (min === undefined || d.sizeBytes >= min) &&
    (max === undefined || d.sizeBytes <= max)
  );
}

function specificity(h: DiskHints): number {
  return Object.values(h).filter((v) => v !== undefined).length;
}

/** Disks an install may use at all: not removable, not tiny, not virtual (loop, ram, zram, md, dm). */
export function candidateDisks(disks: Disk[]): Disk[] {
  return disks.filter((d) => d.removable !== true && d.sizeBytes >= MIN_DISK && !/^(loop|ram|zram|md|dm-|sr)/.test(d.name));
}

export function selectDisks(wanted: Storage['disks'], inventory: Disk[]): Map<string, Disk> {
  const pool = candidateDisks(inventory).sort((a, b) => a.sizeBytes - b.sizeBytes || a.name.localeCompare(b.name));
  const order = [...wanted].sort((a, b) => specificity(b.match) - specificity(a.match));
  const chosen = new Map<string, Disk>();
  const taken = new Set<string>();
  const details: ErrorDetail[] = [];
  for (const w of order) {
    const d = pool.find((c) => !taken.has(c.name) && matchesHints(c, w.match));
    if (!d) {
      const hints = Object.entries(w.match).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(', ') || 'no hints';
      details.push({ path: `storage.disks[${w.id}]`, message: `no free disk matches (${hints}); disks here: ${pool.map((p) => `${p.name} ${(p.sizeBytes / 2 ** 30).toFixed(1)} GiB`).join(', ') || 'none'}` });
      continue;
    }
    chosen.set(w.id, d);
    taken.add(d.name);
  }
  if (details.length) throw new LpmosError(ErrorCode.Validation, 'the layout\'s disks cannot be found on this machine; nothing was written', { details });
  return chosen;
}
