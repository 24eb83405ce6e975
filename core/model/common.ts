// Shared field schemas of the data model: names, MAC addresses, sizes, timestamps.
import { z } from 'zod';
import { isValidName, NAME_RULE } from '../keys.ts';

export const nameSchema = z.string().refine(isValidName, { message: `must be ${NAME_RULE}` });

const MAC_FORMS = [
  /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i,
  /^([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})$/i, // Cisco aabb.ccdd.eeff
  /^([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i,
];

/** Canonical form `aa:bb:cc:dd:ee:ff`, or undefined when the text is no unicast MAC address. */
export function normalizeMac(text: string): string | undefined {
  for (const re of MAC_FORMS) {
    const m = re.exec(text.trim());
    if (!m) continue;
    const octets = m.slice(1, 7).map((o) => o.toLowerCase());
    // A NIC's own address is unicast (I/G bit clear) and not all zeros.
    if ((parseInt(octets[0] ?? '0', 16) & 1) === 1) return undefined;
    if (octets.every((o) => o === '00')) return undefined;
    return octets.join(':');
  }
  return undefined;
}

export const macSchema = z.string().transform((s, ctx) => {
  const mac = normalizeMac(s);
  if (!mac) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a unicast MAC address (expected aa:bb:cc:dd:ee:ff)` });
    return z.NEVER;
  }
  return mac;
});

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/** A size in a layout: bytes, a share of what its container holds, or everything that is left. */
export type Size = { bytes: number } | { percent: number } | { rest: true };

export function parseSize(input: string | number): Size | undefined {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input > 0 ? { bytes: input } : undefined;
  const t = input.trim().toLowerCase();
  if (t === 'rest') return { rest: true };
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(t);
  if (pct) {
    const p = Number(pct[1]);
    return p > 0 && p <= 100 ? { percent: p } : undefined;
  }
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(t);
  if (!m) return undefined;
  const unit = UNITS[m[2] ?? ''];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * unit);
  return bytes > 0 && Number.isSafeInteger(bytes) ? { bytes } : undefined;
}

const parsedSize = z.union([
  z.strictObject({ bytes: z.number().int().positive() }),
  z.strictObject({ percent: z.number().positive().max(100) }),
  z.strictObject({ rest: z.literal(true) }),
]);

/** Accepts what operators write and, idempotently, the parsed form that the store keeps. */
export const sizeSchema = z.union([z.string(), z.number(), parsedSize]).transform((v, ctx) => {
  if (typeof v === 'object') return v as Size;
  const s = parseSize(v);
  if (!s) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a size (bytes, "512MiB", "20G", "50%" or "rest")` });
    return z.NEVER;
  }
  return s;
});

export const timestampSchema = z.iso.datetime({ offset: true });

export const labelsSchema = z.record(
  z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/, 'label keys are letters, digits, ".", "_", "-", "/"'),
  z.string().max(253),
);

export const ipv4Schema = z.ipv4();
export const cidrSchema = z.cidrv4();
