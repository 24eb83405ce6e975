// Merging what each source told into one validated inventory document. Pure. Where two sources
// know the same fact, the kernel's view (lscpu) wins over the firmware's (SMBIOS), which is kept
// as the fallback: SMBIOS tables are often stale or filled with template values.
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { inventorySchema, type Cpu, type Disk, type Dmi, type Inventory, type Nic, type UnknownSource } from '../../core/model/inventory.ts';
import { emptyDmi, type DmiInfo } from './parse-dmidecode.ts';
import type { PciDevice } from './parse-lspci.ts';
import { raidControllers } from './raid-family.ts';

export interface InventoryParts {
  collectedAt: string;
  lscpu: Cpu | null;
  memTotalBytes: number | null;
  dmidecode: DmiInfo | null;
  /** /sys/class/dmi/id, used for the identity strings dmidecode did not give. */
  sysfsDmi: Dmi | null;
  disks: Disk[] | null;
  nics: Nic[] | null;
  pci: PciDevice[] | null;
  virtualization: string | null;
  container: string | null;
  bootMode: 'bios' | 'uefi' | null;
  unknown: UnknownSource[];
}

/** Field by field: the first source that knows the value. */
function mergeDmi(primary: Dmi | null, fallback: Dmi | null): Dmi {
  const out = emptyDmi();
  for (const part of ['system', 'board', 'bios'] as const) {
    const target = out[part] as Record<string, string | null>;
    for (const key of Object.keys(target)) {
      const a = (primary?.[part] as Record<string, string | null> | undefined)?.[key] ?? null;
      const b = (fallback?.[part] as Record<string, string | null> | undefined)?.[key] ?? null;
      target[key] = a ?? b;
    }
  }
  return out;
}

function mergeCpu(lscpu: Cpu | null, dmi: DmiInfo | null): Cpu {
  const p = dmi?.processors ?? null;
  return {
    model: lscpu?.model ?? p?.model ?? null,
    vendor: lscpu?.vendor ?? null,
    arch: lscpu?.arch ?? null,
    sockets: lscpu?.sockets ?? (p && p.sockets > 0 ? p.sockets : null),
    cores: lscpu?.cores ?? p?.cores ?? null,
    threads: lscpu?.threads ?? p?.threads ?? null,
  };
}

export function assembleInventory(parts: InventoryParts): Inventory {
  const dmi = mergeDmi(parts.dmidecode?.found ? parts.dmidecode.dmi : null, parts.sysfsDmi);
  const dimms = parts.dmidecode?.dimms ?? [];
  const doc: Inventory = {
    version: 1,
    collectedAt: parts.collectedAt,
    cpu: mergeCpu(parts.lscpu, parts.dmidecode),
    memory: {
      totalBytes: parts.memTotalBytes,
      installedBytes: dimms.length ? dimms.reduce((s, d) => s + d.sizeBytes, 0) : null,
      dimms,
    },
    dmi,
    serial: dmi.system.serial,
    uuid: dmi.system.uuid,
    disks: parts.disks ?? [],
    nics: parts.nics ?? [],
    raidControllers: raidControllers(parts.pci ?? []),
    virtualization: parts.virtualization,
    container: parts.container,
    bootMode: parts.bootMode,
    unknown: parts.unknown,
  };
  const r = inventorySchema.safeParse(doc);
  if (!r.success) {
    throw new LpmosError(ErrorCode.Internal, 'the assembled inventory does not match its schema', {
      details: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return r.data;
}
