// `lsblk -J -b -d -o NAME,KNAME,PATH,MAJ:MIN,SIZE,TYPE,MODEL,VENDOR,SERIAL,WWN,ROTA,TRAN,RM,HCTL,LOG-SEC,PHY-SEC`
// into disks. util-linux before 2.33 prints every value as a string ("size":"1000204886016",
// "rota":"1"); later versions print numbers and booleans. Both are read.
import type { Disk } from '../../core/model/inventory.ts';
import { clean, toCount } from './text.ts';

export const LSBLK_COLUMNS = 'NAME,KNAME,PATH,MAJ:MIN,SIZE,TYPE,MODEL,VENDOR,SERIAL,WWN,ROTA,TRAN,RM,HCTL,LOG-SEC,PHY-SEC';

type Raw = Record<string, unknown>;

function str(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return null;
}

function bool(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  if (v === '1' || v === 1) return true;
  if (v === '0' || v === 0) return false;
  return null;
}

/**
 * Block devices that are not disks a machine can be installed on: RAM disks (major 1), zram,
 * loop, floppies. Media-less slots (card readers, empty virtual floppies) report size 0.
 */
const NOT_A_DISK = /^(ram|zram|loop|fd|nbd)\d/;

/** Transport when lsblk has none: virtio-blk and Xen disks are not SCSI/ATA and lsblk leaves TRAN empty. */
function transportFromName(name: string): string | null {
  if (/^vd[a-z]/.test(name)) return 'virtio';
  if (/^xvd[a-z]/.test(name)) return 'xen';
  if (/^nvme\d/.test(name)) return 'nvme';
  if (/^mmcblk\d/.test(name)) return 'mmc';
  return null;
}

/** Disks from lsblk JSON; `byPath` maps a kernel name to its /dev/disk/by-path link. */
export function parseLsblk(json: string, byPath: ReadonlyMap<string, string> = new Map()): Disk[] {
  const doc = JSON.parse(json) as { blockdevices?: unknown };
  if (!Array.isArray(doc.blockdevices)) return [];
  const disks: Disk[] = [];
  const seen = new Set<string>();
  for (const d of doc.blockdevices as Raw[]) {
    if (d === null || typeof d !== 'object') continue;
    if (str(d.type) !== 'disk') continue;
    const name = (str(d.kname) ?? str(d.name) ?? '').replace(/^\/dev\//, '');
    if (name === '' || NOT_A_DISK.test(name) || seen.has(name)) continue;
    const sizeBytes = toCount(str(d.size));
    if (sizeBytes === null || sizeBytes === 0) continue;
    seen.add(name);
    disks.push({
      name,
      path: str(d.path) ?? `/dev/${name}`,
      sizeBytes,
      model: clean(str(d.model)),
      vendor: clean(str(d.vendor)),
      serial: clean(str(d.serial)),
      wwn: clean(str(d.wwn)),
      rotational: bool(d.rota),
      removable: bool(d.rm),
      transport: clean(str(d.tran)) ?? transportFromName(name),
      byPath: byPath.get(name) ?? null,
      hctl: clean(str(d.hctl)),
      logicalSectorBytes: toCount(str(d['log-sec'])),
      physicalSectorBytes: toCount(str(d['phy-sec'])),
    });
  }
  return disks;
}

/**
 * /dev/disk/by-path entries (link name → readlink target such as `../../sda`) into kernel name →
 * link. Partition links are skipped; when udev made several links for one disk (`…-ata-1` and
 * the newer `…-ata-1.0`), the shortest one is kept, then the first in sort order.
 */
export function byPathMap(links: ReadonlyArray<{ link: string; target: string }>): Map<string, string> {
  const out = new Map<string, string>();
  const sorted = [...links].sort((a, b) => a.link.length - b.link.length || a.link.localeCompare(b.link));
  for (const { link, target } of sorted) {
    if (/-part\d+$/.test(link)) continue;
    const name = target.split('/').pop() ?? '';
    if (name === '' || out.has(name)) continue;
    out.set(name, link);
  }
  return out;
}
