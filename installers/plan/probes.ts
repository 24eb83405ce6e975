// Pure readers of what the disk tools print, used by the steps' checks: what a disk holds
// (blkid -p per device, /proc/mounts, /proc/swaps), whether a partition table is the planned one
// (sfdisk --json), and which filesystems are mounted. blkid -p probes the device itself, so it
// works without udev (the agent ramdisk and this build host have none; lsblk's FSTYPE needs it).
import type { ResolvedPartition } from './layout.ts';

/** Shell probe for one disk: every device lsblk knows on it, blkid's view of each, then mounts and swaps. */
export function diskProbeArgv(disk: string): string[] {
  const script = 'for d in $(lsblk -lnpo PATH -- "$1"); do echo "DEVICE=$d"; blkid -p -o export -- "$d" 2>/dev/null; done; echo "@MOUNTS"; cat /proc/mounts; echo "@SWAPS"; cat /proc/swaps';
  return ['sh', '-c', script, 'lpmos-disk-probe', disk];
}

export interface DeviceContent { device: string; type?: string; ptType?: string; label?: string }
export interface DiskProbe { devices: DeviceContent[]; mounts: { device: string; dir: string }[]; swaps: string[] }

/** The mount table's escapes (`\040` for a space, fstab(5)). */
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMounts(text: string): { device: string; dir: string; type: string }[] {
  return text.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 3).map((f) => ({ device: unescape(f[0] ?? ''), dir: unescape(f[1] ?? ''), type: f[2] ?? '' }));
}

export function parseDiskProbe(out: string): DiskProbe {
  const [devPart = '', rest = ''] = out.split('@MOUNTS\n');
  const [mountPart = '', swapPart = ''] = rest.split('@SWAPS\n');
  const devices: DeviceContent[] = [];
  for (const line of devPart.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const k = line.slice(0, eq);
    const v = line.slice(eq + 1);
    const cur = devices[devices.length - 1];
    if (k === 'DEVICE') devices.push({ device: v });
    else if (!cur) continue;
    else if (k === 'TYPE') cur.type = v;
    else if (k === 'PTTYPE') cur.ptType = v;
    else if (k === 'LABEL') cur.label = v;
  }
  const swaps = swapPart.split('\n').slice(1).map((l) => l.split(/\s+/)[0] ?? '').filter(Boolean);
  return { devices, mounts: parseMounts(mountPart).map(({ device, dir }) => ({ device, dir })), swaps };
}

/**
 * Why a disk must not be touched, or undefined. A disk in use (mounted, swap) is never touched,
 * not even with `wipe: true`; a disk holding data is touched only with `wipe: true`.
 */
export function diskRefusal(id: string, disk: string, probe: DiskProbe, wipe: boolean): string | undefined {
  const ours = new Set(probe.devices.map((d) => d.device));
  ours.add(disk);
  const mounted = probe.mounts.filter((m) => ours.has(m.device)).map((m) => `${m.device} is mounted at ${m.dir}`);
  const swapping = probe.swaps.filter((s) => ours.has(s)).map((s) => `${s} is in use as swap`);
  if (mounted.length || swapping.length) return `disk "${id}" (${disk}) is in use: ${[...mounted, ...swapping].join('; ')}; nothing was written`;
  if (wipe) return undefined;
  const found = probe.devices
    .filter((d) => d.type || d.ptType)
    .map((d) => `${d.device}: ${[d.ptType ? `${d.ptType} partition table` : '', d.type ? `${d.type}${d.label ? ` "${d.label}"` : ''}` : ''].filter(Boolean).join(', ')}`);
  if (!found.length) return undefined;
  return `disk "${id}" (${disk}) holds data (${found.join('; ')}) and the layout does not allow wiping it: set "wipe: true" on disk "${id}" to erase it; nothing was written`;
}

/** GPT type GUIDs (UEFI spec §5.3.3; Discoverable Partitions Specification) and MBR type bytes. */
export const GPT_TYPES: Record<ResolvedPartition['type'], { code: string; guid: string; mbr: string }> = {
  'bios-boot': { code: 'EF02', guid: '21686148-6449-6E6F-744E-656564454649', mbr: 'ef' },
  esp: { code: 'EF00', guid: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', mbr: 'ef' },
  linux: { code: '8300', guid: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', mbr: '83' },
  swap: { code: '8200', guid: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', mbr: '82' },
  raid: { code: 'FD00', guid: 'A19D880F-05FC-4D3B-A006-743F0F84911E', mbr: 'fd' },
  lvm: { code: '8E00', guid: 'E6D6D379-F507-44C2-A23C-238F2A3DF928', mbr: '8e' },
};

interface SfdiskJson { partitiontable?: { label?: string; sectorsize?: number; partitions?: { node?: string; start?: number; size?: number; type?: string }[] } }

/** True when `sfdisk --json disk` shows exactly the planned partitions (label, start, size, type). */
export function tableMatches(json: string, table: 'gpt' | 'mbr', parts: ResolvedPartition[]): boolean {
  let t: SfdiskJson['partitiontable'];
  try {
    t = (JSON.parse(json) as SfdiskJson).partitiontable;
  } catch {
    return false;
  }
  if (!t || t.label !== (table === 'gpt' ? 'gpt' : 'dos')) return false;
  const sector = t.sectorsize ?? 512;
  const have = t.partitions ?? [];
  if (have.length !== parts.length) return false;
  return parts.every((p, i) => {
    const h = have[i];
    const type = table === 'gpt' ? GPT_TYPES[p.type].guid : GPT_TYPES[p.type].mbr;
    return h !== undefined && h.start === p.start / sector && h.size === p.size / sector && (h.type ?? '').toLowerCase() === type.toLowerCase();
  });
}
