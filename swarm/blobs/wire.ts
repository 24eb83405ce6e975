// The `/lpmos/blob/1.0.0` protocol (one request per stream): pure framing.
//   request:  type (1 byte) then
//     PIECE    (1): sha256 (32 bytes) + piece index (u32 BE)
//     HAVE     (2): count (u16 BE) + count × sha256 (32 bytes)  → the have message (have.ts) for those we hold
//     MANIFEST (3): sha256 (32 bytes)                            → the manifest JSON (manifest.ts)
//     PUSH     (4): length (u32 BE) + a have message (have.ts)    → empty (to the tracker: tracker.ts)
//     HOLDERS  (5): count (u16 BE) + count × sha256 (32 bytes)  → the tracker's holders answer (tracker.ts)
//     CLAIM    (6): sha256 (32 bytes) + piece index (u32 BE) + pieces (u32 BE) → OK: take it from the seed;
//                   BUSY: another peer fetches it from the seed or holds it (ask the tracker who)
//   response: status (1 byte) + length (u32 BE) + body
// Statuses: OK, NOT_FOUND (no such blob/piece here), BUSY (upload cap reached: ask someone else or
// later), BAD_REQUEST.
export const BLOB_PROTOCOL = '/lpmos/blob/1.0.0';

export const ReqType = { Piece: 1, Have: 2, Manifest: 3, Push: 4, Holders: 5, Claim: 6 } as const;
export type ReqType = (typeof ReqType)[keyof typeof ReqType];
export const Status = { Ok: 0, NotFound: 1, Busy: 2, BadRequest: 3 } as const;
export type Status = (typeof Status)[keyof typeof Status];

export const RESPONSE_HEADER = 5;
/** The longest request: HAVE for 256 blobs. */
export const MAX_HAVE_QUERY = 256;
/** The longest PUSH body (have.ts MAX_HAVE_BYTES). */
export const MAX_PUSH = 64 * 1024;
export const MAX_REQUEST = Math.max(3 + 32 * MAX_HAVE_QUERY, 5 + MAX_PUSH);

export type Request =
  | { type: typeof ReqType.Piece; sha256: string; index: number }
  | { type: typeof ReqType.Have; blobs: string[] }
  | { type: typeof ReqType.Holders; blobs: string[] }
  | { type: typeof ReqType.Manifest; sha256: string }
  | { type: typeof ReqType.Push; body: Uint8Array }
  | { type: typeof ReqType.Claim; sha256: string; index: number; pieces: number };

export function encodeRequest(r: Request): Uint8Array {
  if (r.type === ReqType.Piece) {
    const b = Buffer.alloc(37);
    b[0] = r.type;
    b.write(r.sha256, 1, 'hex');
    b.writeUInt32BE(r.index, 33);
    return b;
  }
  if (r.type === ReqType.Claim) {
    const b = Buffer.alloc(41);
    b[0] = r.type;
    b.write(r.sha256, 1, 'hex');
    b.writeUInt32BE(r.index, 33);
    b.writeUInt32BE(r.pieces, 37);
    return b;
  }
  if (r.type === ReqType.Manifest) {
    const b = Buffer.alloc(33);
    b[0] = r.type;
    b.write(r.sha256, 1, 'hex');
    return b;
  }
  if (r.type === ReqType.Push) {
    if (r.body.length > MAX_PUSH) throw new RangeError(`push of ${r.body.length} bytes exceeds ${MAX_PUSH}`);
    const b = Buffer.alloc(5 + r.body.length);
    b[0] = r.type;
    b.writeUInt32BE(r.body.length, 1);
    b.set(r.body, 5);
    return b;
  }
  if (r.blobs.length > MAX_HAVE_QUERY) throw new RangeError(`have? query for ${r.blobs.length} blobs exceeds ${MAX_HAVE_QUERY}`);
  const b = Buffer.alloc(3 + 32 * r.blobs.length);
  b[0] = r.type;
  b.writeUInt16BE(r.blobs.length, 1);
  r.blobs.forEach((s, i) => b.write(s, 3 + 32 * i, 'hex'));
  return b;
}

/** How many bytes the request starting with `head` has in total (undefined: need more bytes; -1: invalid). */
export function requestLength(head: Uint8Array): number | undefined {
  if (head.length < 1) return undefined;
  switch (head[0]) {
    case ReqType.Piece:
      return 37;
    case ReqType.Manifest:
      return 33;
    case ReqType.Claim:
      return 41;
    case ReqType.Push: {
      if (head.length < 5) return undefined;
      const n = Buffer.from(head.buffer, head.byteOffset, head.byteLength).readUInt32BE(1);
      return n > MAX_PUSH ? -1 : 5 + n;
    }
    case ReqType.Have:
    case ReqType.Holders: {
      if (head.length < 3) return undefined;
      const n = (head[1]! << 8) | head[2]!;
      return n > MAX_HAVE_QUERY ? -1 : 3 + 32 * n;
    }
    default:
      return -1;
  }
}

export function decodeRequest(bytes: Uint8Array): Request | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = requestLength(b);
  if (len === undefined || len < 0 || b.length !== len) return undefined;
  if (b[0] === ReqType.Piece) return { type: ReqType.Piece, sha256: b.toString('hex', 1, 33), index: b.readUInt32BE(33) };
  if (b[0] === ReqType.Manifest) return { type: ReqType.Manifest, sha256: b.toString('hex', 1, 33) };
  if (b[0] === ReqType.Claim) return { type: ReqType.Claim, sha256: b.toString('hex', 1, 33), index: b.readUInt32BE(33), pieces: b.readUInt32BE(37) };
  if (b[0] === ReqType.Push) return { type: ReqType.Push, body: new Uint8Array(b.subarray(5)) };
  const n = b.readUInt16BE(1);
  const blobs: string[] = [];
  for (let i = 0; i < n; i++) blobs.push(b.toString('hex', 3 + 32 * i, 35 + 32 * i));
  return { type: b[0] === ReqType.Holders ? ReqType.Holders : ReqType.Have, blobs };
}

export function responseHeader(status: Status, length: number): Uint8Array {
  const b = Buffer.alloc(RESPONSE_HEADER);
  b[0] = status;
  b.writeUInt32BE(length, 1);
  return b;
}

export function decodeResponseHeader(b: Uint8Array): { status: Status; length: number } | undefined {
  if (b.length < RESPONSE_HEADER) return undefined;
  const status = b[0]!;
  if (status > Status.BadRequest) return undefined;
  return { status: status as Status, length: Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32BE(1) };
}
