// `lspci -mm -nn -D` (pciutils, "machine readable" format, lspci(8) §"Machine readable output"):
//   slot "class [cccc]" "vendor [vvvv]" "device [dddd]" -rRR -pPP "svendor [ssss]" "sdevice [ssss]"
// Without -nn the `[xxxx]` ids are missing, without -D the `0000:` domain; both are tolerated.

export interface PciDevice {
  /** `0000:03:00.0` */
  slot: string;
  classId: string | null;
  className: string | null;
  vendorId: string | null;
  vendorName: string | null;
  deviceId: string | null;
  deviceName: string | null;
  subsystemVendorId: string | null;
  subsystemVendorName: string | null;
  subsystemDeviceId: string | null;
  subsystemDeviceName: string | null;
}

/** Quoted fields and -r/-p options of one line, in order; an unterminated quote runs to the end. */
function tokens(rest: string): { quoted: string[]; options: string[] } {
  const quoted: string[] = [];
  const options: string[] = [];
  let i = 0;
  while (i < rest.length) {
    const c = rest[i];
    if (c === '"') {
      const end = rest.indexOf('"', i + 1);
      quoted.push(rest.slice(i + 1, end === -1 ? undefined : end));
      i = end === -1 ? rest.length : end + 1;
    } else if (c === ' ' || c === '\t') {
      i++;
    } else {
      const end = rest.slice(i).search(/\s/);
      options.push(end === -1 ? rest.slice(i) : rest.slice(i, i + end));
      i = end === -1 ? rest.length : i + end;
    }
  }
  return { quoted, options };
}

/** `MegaRAID SAS-3 3108 [Invader] [005d]` → name and the last bracketed 4-hex-digit id. */
export function splitNameId(field: string | undefined): { name: string | null; id: string | null } {
  if (field === undefined) return { name: null, id: null };
  const m = /^(.*?)\s*\[([0-9a-fA-F]{4})\]\s*$/.exec(field);
  const name = (m ? m[1] : field)?.trim() ?? '';
  return { name: name === '' ? null : name, id: m?.[2]?.toLowerCase() ?? null };
}

const SLOT = /^(?:([0-9a-fA-F]{4,8}):)?([0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])$/;

export function parseLspci(output: string): PciDevice[] {
  const out: PciDevice[] = [];
  for (const raw of output.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const slot = SLOT.exec(line.slice(0, sp));
    if (!slot) continue;
    const { quoted } = tokens(line.slice(sp + 1));
    const cls = splitNameId(quoted[0]);
    const vendor = splitNameId(quoted[1]);
    const device = splitNameId(quoted[2]);
    const sv = splitNameId(quoted[3]);
    const sd = splitNameId(quoted[4]);
    out.push({
      slot: `${(slot[1] ?? '0000').toLowerCase()}:${(slot[2] ?? '').toLowerCase()}`,
      classId: cls.id,
      className: cls.name,
      vendorId: vendor.id,
      vendorName: vendor.name,
      deviceId: device.id,
      deviceName: device.name,
      subsystemVendorId: sv.id,
      subsystemVendorName: sv.name,
      subsystemDeviceId: sd.id,
      subsystemDeviceName: sd.name,
    });
  }
  return out;
}
