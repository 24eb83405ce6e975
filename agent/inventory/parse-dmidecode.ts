// `dmidecode -t 0,1,2,4,17` text output into DMI identity, processors and memory modules.
// Record layout (dmidecode(8)): a `Handle 0x…, DMI type N, L bytes` line, the record's name, then
// one `Key: value` per line, indented once; deeper lines are list items of the key above (Flags,
// Characteristics) and are skipped. Captures differ in indentation (tabs, or spaces when pasted),
// so the property level is the smallest indent seen in the record.
import type { Dimm, Dmi } from '../../core/model/inventory.ts';
import { clean, cleanUuid, toCount } from './text.ts';

export interface DmiRecord {
  handle: string;
  type: number;
  name: string;
  props: Map<string, string>;
}

const HANDLE = /^\s*Handle (0x[0-9A-Fa-f]+), DMI type (\d+)/;
// dmidecode 2.8 and older: `Handle 0x0001` alone, then `\tDMI type 1, 25 bytes.` on the next line
const OLD_HANDLE = /^\s*Handle (0x[0-9A-Fa-f]+)\s*$/;
const OLD_TYPE = /^\s*DMI type (\d+)/;

export function dmiRecords(output: string): DmiRecord[] {
  const records: DmiRecord[] = [];
  let cur: DmiRecord | undefined;
  let lines: string[] = [];
  const finish = (): void => {
    if (!cur) return;
    const indents = lines.filter((l) => l.trim() !== '').map((l) => /^[\t ]*/.exec(l)?.[0].replace(/\t/g, '        ').length ?? 0);
    const level = indents.length ? Math.min(...indents) : 0;
    for (const l of lines) {
      if (l.trim() === '') continue;
      const indent = /^[\t ]*/.exec(l)?.[0].replace(/\t/g, '        ').length ?? 0;
      if (indent !== level) continue;
      const i = l.indexOf(':');
      if (i <= 0) continue;
      const key = l.slice(0, i).trim();
      if (!cur.props.has(key)) cur.props.set(key, l.slice(i + 1).trim());
    }
    records.push(cur);
    cur = undefined;
  };
  for (const line of output.split(/\r?\n/)) {
    const h = HANDLE.exec(line);
    if (h) {
      finish();
      cur = { handle: h[1] ?? '', type: Number(h[2]), name: '', props: new Map() };
      lines = [];
      continue;
    }
    const old = OLD_HANDLE.exec(line);
    if (old) {
      finish();
      cur = { handle: old[1] ?? '', type: Number.NaN, name: '', props: new Map() };
      lines = [];
      continue;
    }
    if (!cur) continue;
    if (Number.isNaN(cur.type)) {
      const t = OLD_TYPE.exec(line);
      if (t) cur.type = Number(t[1]);
      continue;
    }
    if (cur.name === '' && line.trim() !== '') {
      cur.name = line.trim();
      continue;
    }
    lines.push(line);
  }
  finish();
  return records;
}

/** `16384 MB`, `16 GB`, `512 kB` (dmidecode prints binary units) → bytes; null for empty slots. */
export function dmiSizeBytes(value: string | undefined): number | null {
  const m = /^\s*(\d+)\s*(bytes|kB|KB|MB|GB|TB)\s*$/.exec(value ?? '');
  if (!m) return null;
  const mult: Record<string, number> = { bytes: 1, kB: 2 ** 10, KB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30, TB: 2 ** 40 };
  const n = Number(m[1]) * (mult[m[2] ?? ''] ?? 0);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

export interface DmiProcessors {
  /** Populated sockets (SMBIOS type 4 with Status "Populated"). */
  sockets: number;
  cores: number | null;
  threads: number | null;
  model: string | null;
}

export interface DmiInfo {
  /** False when the output held no SMBIOS record at all (no table, no permission). */
  found: boolean;
  dmi: Dmi;
  processors: DmiProcessors | null;
  dimms: Dimm[];
}

export function emptyDmi(): Dmi {
  return {
    system: { vendor: null, product: null, version: null, serial: null, uuid: null, sku: null, family: null },
    board: { vendor: null, product: null, version: null, serial: null },
    bios: { vendor: null, version: null, date: null },
  };
}

function processors(records: DmiRecord[]): DmiProcessors | null {
  const cpus = records.filter((r) => r.type === 4 && !/^(Other|Math|DSP|Video)/i.test(r.props.get('Type') ?? ''));
  if (cpus.length === 0) return null;
  // SMBIOS 3.x §7.5: a socket is populated when Status bit 6 is set, printed "Populated, …".
  const populated = cpus.filter((r) => /^Populated/i.test(r.props.get('Status') ?? 'Populated'));
  let cores: number | null = 0;
  let threads: number | null = 0;
  for (const r of populated) {
    const c = toCount(r.props.get('Core Enabled')) ?? toCount(r.props.get('Core Count'));
    const t = toCount(r.props.get('Thread Count'));
    cores = c === null || cores === null ? null : cores + c;
    threads = t === null || threads === null ? null : threads + t;
  }
  const model = populated.map((r) => clean(r.props.get('Version'))).find((v) => v !== null) ?? null;
  return { sockets: populated.length, cores: populated.length ? cores : null, threads: populated.length ? threads : null, model };
}

function dimms(records: DmiRecord[]): Dimm[] {
  const out: Dimm[] = [];
  for (const r of records) {
    if (r.type !== 17) continue;
    const sizeBytes = dmiSizeBytes(r.props.get('Size'));
    if (sizeBytes === null) continue; // "No Module Installed", "Not Installed", "Unknown"
    out.push({
      locator: clean(r.props.get('Locator')),
      sizeBytes,
      type: clean(r.props.get('Type')),
      speedMTs: toCount(r.props.get('Configured Memory Speed')) ?? toCount(r.props.get('Configured Clock Speed')) ?? toCount(r.props.get('Speed')),
      manufacturer: clean(r.props.get('Manufacturer')),
      serial: clean(r.props.get('Serial Number')),
      partNumber: clean(r.props.get('Part Number')),
    });
  }
  return out;
}

export function parseDmidecode(output: string): DmiInfo {
  const records = dmiRecords(output);
  const first = (type: number): Map<string, string> => records.find((r) => r.type === type)?.props ?? new Map<string, string>();
  const bios = first(0);
  const sys = first(1);
  const board = first(2);
  return {
    found: records.length > 0,
    dmi: {
      system: {
        vendor: clean(sys.get('Manufacturer')),
        product: clean(sys.get('Product Name')),
        version: clean(sys.get('Version')),
        serial: clean(sys.get('Serial Number')),
        uuid: cleanUuid(sys.get('UUID')),
        sku: clean(sys.get('SKU Number')),
        family: clean(sys.get('Family')),
      },
      board: {
        vendor: clean(board.get('Manufacturer')),
        product: clean(board.get('Product Name')),
        version: clean(board.get('Version')),
        serial: clean(board.get('Serial Number')),
      },
      bios: { vendor: clean(bios.get('Vendor')), version: clean(bios.get('Version')), date: clean(bios.get('Release Date')) },
    },
    processors: processors(records),
    dimms: dimms(records),
  };
}
