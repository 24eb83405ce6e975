// The hardware inventory an agent reports (DESIGN §2: `machines/<id>/inventory`). Observed state,
// written by the agent only. Every field the tools could not tell is null, and the `unknown` list
// says which source failed and why, so a missing tool is visible instead of looking like "no disks".
import { z } from 'zod';
import { timestampSchema } from './common.ts';

const text = z.string().min(1).nullable();
const count = z.number().int().nonnegative().nullable();
const bytes = z.number().int().nonnegative();
/** `aa:bb:cc:dd:ee:ff`, lower case (normalizeMac in common.ts). */
const mac = z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);

export const cpuSchema = z.object({
  model: text,
  vendor: text,
  arch: text,
  /** Populated sockets. */
  sockets: count,
  /** Physical cores over all sockets. */
  cores: count,
  /** Logical CPUs (hardware threads) the kernel sees. */
  threads: count,
});

export const dimmSchema = z.object({
  locator: text,
  sizeBytes: bytes,
  type: text,
  speedMTs: count,
  manufacturer: text,
  serial: text,
  partNumber: text,
});

export const memorySchema = z.object({
  /** MemTotal from /proc/meminfo: what the kernel can use (less than installed). */
  totalBytes: bytes.nullable(),
  /** Sum of the populated DIMMs (SMBIOS type 17), when DMI is readable. */
  installedBytes: bytes.nullable(),
  dimms: z.array(dimmSchema),
});

export const dmiSchema = z.object({
  system: z.object({ vendor: text, product: text, version: text, serial: text, uuid: text, sku: text, family: text }),
  board: z.object({ vendor: text, product: text, version: text, serial: text }),
  bios: z.object({ vendor: text, version: text, date: text }),
});

export const diskSchema = z.object({
  /** Kernel name: `sda`, `nvme0n1`, `vda`. */
  name: z.string().min(1),
  path: z.string().min(1),
  sizeBytes: bytes,
  model: text,
  vendor: text,
  serial: text,
  wwn: text,
  rotational: z.boolean().nullable(),
  removable: z.boolean().nullable(),
  /** `sata`, `sas`, `nvme`, `usb`, `virtio`… (lsblk TRAN; virtio disks have none, derived from the name). */
  transport: text,
  /** Stable name under /dev/disk/by-path (`pci-0000:00:1f.2-ata-1`), null without udev. */
  byPath: text,
  hctl: text,
  logicalSectorBytes: count,
  physicalSectorBytes: count,
});

export const nicKinds = ['physical', 'bond', 'vlan', 'bridge', 'virtual'] as const;

export const nicSchema = z.object({
  name: z.string().min(1),
  /** Permanent (burned-in) address when known: a bond member's current address is the bond's. */
  mac: mac.nullable(),
  /** Address in use now, when it differs from `mac` (bond members, changed addresses). */
  currentMac: mac.nullable(),
  link: z.enum(['up', 'down', 'unknown']),
  speedMbps: count,
  driver: text,
  pciAddress: text,
  mtu: count,
  kind: z.enum(nicKinds),
  /** Bond or bridge this interface belongs to. */
  master: text,
  /** Members, for a bond or bridge. */
  members: z.array(z.string()),
});

export const raidFamilies = ['megaraid', 'perc', 'hpsa', 'smartpqi', 'aacraid', 'mdadm-only', 'unknown'] as const;

export const raidControllerSchema = z.object({
  pciAddress: z.string().min(1),
  vendorId: z.string().regex(/^[0-9a-f]{4}$/).nullable(),
  deviceId: z.string().regex(/^[0-9a-f]{4}$/).nullable(),
  subsystemVendorId: z.string().regex(/^[0-9a-f]{4}$/).nullable(),
  subsystemDeviceId: z.string().regex(/^[0-9a-f]{4}$/).nullable(),
  vendor: text,
  /** Device name, with the subsystem name when the board maker gave one (`PERC H730P Mini`). */
  name: text,
  family: z.enum(raidFamilies),
});

export const unknownSourceSchema = z.object({
  /** The tool or file: `dmidecode`, `/proc/meminfo`, `ethtool eth0`. */
  source: z.string().min(1),
  reason: z.string().min(1),
});

export const inventorySchema = z.object({
  version: z.literal(1),
  collectedAt: timestampSchema,
  cpu: cpuSchema,
  memory: memorySchema,
  dmi: dmiSchema,
  /** System serial number (DMI type 1), placeholders removed. */
  serial: text,
  /** System UUID (DMI type 1), lower case, placeholders removed. */
  uuid: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/).nullable(),
  disks: z.array(diskSchema),
  nics: z.array(nicSchema),
  raidControllers: z.array(raidControllerSchema),
  /** VM technology as systemd-detect-virt names it (`none`, `kvm`, `qemu`, `vmware`, `microsoft`…). */
  virtualization: text,
  /** Container technology (`none`, `docker`, `lxc`…): the agent normally runs on bare metal. */
  container: text,
  bootMode: z.enum(['bios', 'uefi']).nullable(),
  unknown: z.array(unknownSourceSchema),
});

export type Inventory = z.infer<typeof inventorySchema>;
export type Cpu = z.infer<typeof cpuSchema>;
export type Memory = z.infer<typeof memorySchema>;
export type Dimm = z.infer<typeof dimmSchema>;
export type Dmi = z.infer<typeof dmiSchema>;
export type Disk = z.infer<typeof diskSchema>;
export type Nic = z.infer<typeof nicSchema>;
export type NicKind = (typeof nicKinds)[number];
export type RaidController = z.infer<typeof raidControllerSchema>;
export type RaidFamily = (typeof raidFamilies)[number];
export type UnknownSource = z.infer<typeof unknownSourceSchema>;

/** What `lpmos machine list` shows of an inventory. */
export interface InventorySummary {
  /** Logical CPUs, null when unknown. */
  cpus: number | null;
  /** Installed memory when DMI told it, else what the kernel sees. */
  memoryBytes: number | null;
  disks: { count: number; totalBytes: number };
  /** Short text for a table cell: `2×16c/64t`, `64 GiB`, `2 × 1.0 TB`. */
  text: { cpus: string; memory: string; disks: string };
}

/** Binary units, as `free -h` and the DIMM sizes use them. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 100 || Number.isInteger(v) ? 0 : 1;
  return `${v.toFixed(digits)} ${units[i]}`;
}

export function summarizeInventory(inv: Inventory): InventorySummary {
  const { sockets, cores, threads } = inv.cpu;
  const memoryBytes = inv.memory.installedBytes ?? inv.memory.totalBytes;
  const totalBytes = inv.disks.reduce((s, d) => s + d.sizeBytes, 0);
  let cpus = '?';
  if (threads !== null) {
    if (sockets !== null && cores !== null && sockets > 1) {
      cpus = cores % sockets === 0 ? `${sockets}×${cores / sockets}c/${threads}t` : `${sockets}s/${cores}c/${threads}t`;
    } else {
      cpus = String(threads);
    }
  }
  return {
    cpus: threads,
    memoryBytes,
    disks: { count: inv.disks.length, totalBytes },
    text: {
      cpus,
      memory: memoryBytes === null ? '?' : formatBytes(memoryBytes),
      disks: inv.disks.length === 0 ? '0' : `${inv.disks.length} / ${formatBytes(totalBytes)}`,
    },
  };
}
