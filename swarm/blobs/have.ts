// "What I hold" (issue 7): gossiped on `lpmos/<site>/blobs/have` and answered to a direct have?
// query. Pure codec. The holder's peer id is not in the payload: gossipsub's StrictSign proves the
// author (and a have? answer comes over a connection whose peer id noise proved). Partial blobs
// are announced with their bitfield, so peers fetch from a holder that is itself still downloading.
import { z } from 'zod';
import { validBits } from './bitfield.ts';

export const MAX_HAVE_BYTES = 64 * 1024;
/** Blobs per message; a full re-announcement of more is split. */
export const MAX_HAVE_BLOBS = 256;

export function haveTopic(site: string): string {
  return `lpmos/${site}/blobs/have`;
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

export const blobHaveSchema = z.strictObject({
  sha256: hex64,
  pieces: z.number().int().min(0).max(1 << 24),
  /** Base64 bitfield, or "*" for a complete blob. */
  have: z.string().max(8192),
  /** Base64 bitfield of pieces being fetched from the seed now. */
  fetching: z.string().max(8192).optional(),
});

export const haveMessageSchema = z.strictObject({
  v: z.literal(1),
  /** Where to reach the holder: multiaddrs (dialled with its proven peer id) and its HTTP piece server. */
  addrs: z.array(z.string().max(256)).max(16),
  http: z.string().url().max(256).optional(),
  blobs: z.array(blobHaveSchema).max(MAX_HAVE_BLOBS),
  /** The holder drops these (evicted): the index forgets them. */
  gone: z.array(hex64).max(MAX_HAVE_BLOBS).optional(),
});
export type HaveMessage = z.infer<typeof haveMessageSchema>;

export interface DecodedBlobHave {
  sha256: string;
  pieces: number;
  have: Uint8Array | 'all';
  fetching?: Uint8Array;
}

export function encodeBits(have: Uint8Array, pieces: number, complete: boolean): string {
  return complete || pieces === 0 ? '*' : Buffer.from(have).toString('base64');
}

export function encodeHave(msg: HaveMessage): Uint8Array {
  const bytes = Buffer.from(JSON.stringify(haveMessageSchema.parse(msg)), 'utf8');
  if (bytes.length > MAX_HAVE_BYTES) throw new RangeError(`have message of ${bytes.length} bytes exceeds ${MAX_HAVE_BYTES}`);
  return bytes;
}

export type HaveDecode = { ok: true; msg: HaveMessage; blobs: DecodedBlobHave[] } | { ok: false; detail: string };

export function decodeHave(bytes: Uint8Array): HaveDecode {
  if (bytes.length > MAX_HAVE_BYTES) return { ok: false, detail: `oversize (${bytes.length} bytes)` };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return { ok: false, detail: 'not JSON' };
  }
  const r = haveMessageSchema.safeParse(json);
  if (!r.success) return { ok: false, detail: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ').slice(0, 300) };
  const blobs = decodeBlobs(r.data.blobs);
  if (typeof blobs === 'string') return { ok: false, detail: blobs };
  return { ok: true, msg: r.data, blobs };
}

/** Bitfields of schema-checked blob entries; a string says which one does not fit. */
export function decodeBlobs(list: z.infer<typeof blobHaveSchema>[]): DecodedBlobHave[] | string {
  const blobs: DecodedBlobHave[] = [];
  for (const b of list) {
    let fetching: Uint8Array | undefined;
    if (b.fetching !== undefined) {
      fetching = new Uint8Array(Buffer.from(b.fetching, 'base64'));
      if (!validBits(fetching, b.pieces)) return `fetching bitfield of ${b.sha256.slice(0, 12)} does not fit ${b.pieces} pieces`;
    }
    const extra = fetching ? { fetching } : {};
    if (b.have === '*') {
      blobs.push({ sha256: b.sha256, pieces: b.pieces, have: 'all', ...extra });
      continue;
    }
    const bits = new Uint8Array(Buffer.from(b.have, 'base64'));
    if (!validBits(bits, b.pieces)) return `bitfield of ${b.sha256.slice(0, 12)} does not fit ${b.pieces} pieces`;
    blobs.push({ sha256: b.sha256, pieces: b.pieces, have: bits, ...extra });
  }
  return blobs;
}
