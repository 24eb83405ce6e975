// Small helpers shared by the inventory parsers: cleaning the values firmware and tools print.

/**
 * Values vendors leave in SMBIOS strings instead of leaving them empty (SMBIOS 3.x §6.1.3 allows
 * empty strings, AMI/Insyde/Supermicro BIOS templates ship these defaults). Compared lower case,
 * after trimming and squeezing spaces.
 */
const PLACEHOLDERS = new Set([
  'not specified', 'not available', 'not applicable', 'not present', 'not provided', 'not settable', 'none',
  'unknown', 'n/a', 'na', 'null', 'default string', 'to be filled by o.e.m.', 'to be filled by oem', 'o.e.m.',
  'oem', 'system manufacturer', 'system product name', 'system version', 'system serial number',
  'base board manufacturer', 'base board product name', 'base board version', 'base board serial number',
  'chassis serial number', 'sku', 'default', 'invalid', '0', '0123456789', '123456789', 'xxxxxxxxxx',
  '(line containing serial number has been censored)',
  // vendors print a row of these when the EEPROM is blank
  '..', '...', '.', '-', '--', '?',
]);

/** Trimmed, inner whitespace squeezed; null for empty strings and known placeholders. */
export function clean(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  // Fixed-width SMBIOS fields come padded with spaces or with a run of dots (`ERC410M......`).
  const v = value.replace(/\s+/g, ' ').trim().replace(/(\S)\.{3,}$/, '$1');
  if (v === '') return null;
  const lower = v.toLowerCase();
  if (PLACEHOLDERS.has(lower)) return null;
  // A string of one repeated filler character (`00000000`, `FFFFFFFF`, `        `) carries nothing.
  if (/^(.)\1{3,}$/.test(lower) && /^[0f. x*-]$/.test(lower[0] ?? '')) return null;
  return v;
}

/** A non-negative integer out of text such as `4`, ` 16 `, `2400 MT/s`; null otherwise. */
export function toCount(value: string | number | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  const m = /^\s*(\d+)\b/.exec(value);
  if (!m) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : null;
}

/** Lines `Key: value` (or `Key:   value`, `Key\t: value`) into a map; first occurrence wins. */
export function keyValueLines(textBlock: string, sep = ':'): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of textBlock.split('\n')) {
    const i = line.indexOf(sep);
    if (i <= 0) continue;
    const key = line.slice(0, i).trim();
    if (key === '' || out.has(key)) continue;
    out.set(key, line.slice(i + sep.length).trim());
  }
  return out;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * System UUID, lower case; null for the all-0 and all-F values (SMBIOS 3.x §7.2.1: "not present"
 * and "not set") and for the sequential template value some boards ship.
 */
export function cleanUuid(value: string | null | undefined): string | null {
  const v = clean(value)?.toLowerCase();
  if (!v || !UUID.test(v)) return null;
  const hex = v.replace(/-/g, '');
  if (/^0+$/.test(hex) || /^f+$/.test(hex)) return null;
  // Template values of AMI BIOS images that were never given a real UUID.
  if (v === '03000200-0400-0500-0006-000700080009' || v === '00020003-0004-0005-0006-000700080009') return null;
  return v;
}
