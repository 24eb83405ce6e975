// A blob's manifest (BlobManifest in api.ts): sha256 of the whole, size, piece size and the sha256 of
// every piece. Pure: the JSON codec, validation and piece geometry. Building one from a file is in
// manifest-build.ts.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import type { BlobManifest, BlobRef } from './api.ts';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
/** Piece sizes from 16 KiB to 16 MiB, powers of two: a peer cannot make us buffer more than 16 MiB. */
export const MIN_PIECE_SIZE = 16 * 1024;
export const MAX_PIECE_SIZE = 16 * 1024 * 1024;

export const manifestSchema = z
  .strictObject({
    sha256: hex64,
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    pieceSize: z
      .number()
      .int()
      .min(MIN_PIECE_SIZE)
      .max(MAX_PIECE_SIZE)
      .refine((n) => (n & (n - 1)) === 0, { message: 'must be a power of two' }),
    pieces: z.array(hex64),
  })
  .refine((m) => m.pieces.length === pieceCount(m.size, m.pieceSize), { message: 'piece count does not match size / pieceSize' });

export function pieceCount(size: number, pieceSize: number): number {
  return Math.ceil(size / pieceSize);
}

/** Byte range [start, end) of piece `i`. */
export function pieceRange(m: Pick<BlobManifest, 'size' | 'pieceSize'>, i: number): { start: number; end: number } {
  const start = i * m.pieceSize;
  return { start, end: Math.min(m.size, start + m.pieceSize) };
}

export function pieceLength(m: Pick<BlobManifest, 'size' | 'pieceSize'>, i: number): number {
  const r = pieceRange(m, i);
  return r.end - r.start;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Whether `bytes` are piece `i` of the blob. */
export function pieceMatches(m: BlobManifest, i: number, bytes: Uint8Array): boolean {
  return i >= 0 && i < m.pieces.length && bytes.length === pieceLength(m, i) && sha256Hex(bytes) === m.pieces[i];
}

export function encodeManifest(m: BlobManifest): string {
  return JSON.stringify({ sha256: m.sha256, size: m.size, pieceSize: m.pieceSize, pieces: m.pieces });
}

export function decodeManifest(text: string | Uint8Array): BlobManifest {
  let json: unknown;
  try {
    json = JSON.parse(typeof text === 'string' ? text : new TextDecoder().decode(text));
  } catch (e) {
    throw new LpmosError(ErrorCode.Parse, 'blob manifest is not JSON', { cause: e });
  }
  return parseManifest(json);
}

export function parseManifest(json: unknown): BlobManifest {
  const r = manifestSchema.safeParse(json);
  if (!r.success) throw new LpmosError(ErrorCode.Validation, `blob manifest is invalid: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

export function isManifest(b: BlobManifest | BlobRef): b is BlobManifest {
  return 'pieces' in b && Array.isArray((b as BlobManifest).pieces);
}

/** Incremental builder: feed bytes in order, get the manifest at the end (used by file reads and by the seed download). */
export class ManifestBuilder {
  readonly pieceSize: number;
  readonly pieces: string[] = [];
  #whole = createHash('sha256');
  #piece = createHash('sha256');
  #inPiece = 0;
  #size = 0;

  constructor(pieceSize: number) {
    if (pieceSize < MIN_PIECE_SIZE || pieceSize > MAX_PIECE_SIZE || (pieceSize & (pieceSize - 1)) !== 0) {
      throw new LpmosError(ErrorCode.Usage, `piece size ${pieceSize} must be a power of two from ${MIN_PIECE_SIZE} to ${MAX_PIECE_SIZE}`);
    }
    this.pieceSize = pieceSize;
  }

  get size(): number {
    return this.#size;
  }

  update(chunk: Uint8Array): void {
    this.#whole.update(chunk);
    this.#size += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(this.pieceSize - this.#inPiece, chunk.length - off);
      this.#piece.update(chunk.subarray(off, off + take));
      this.#inPiece += take;
      off += take;
      if (this.#inPiece === this.pieceSize) this.#endPiece();
    }
  }

  #endPiece(): void {
    this.pieces.push(this.#piece.digest('hex'));
    this.#piece = createHash('sha256');
    this.#inPiece = 0;
  }

  finish(): BlobManifest {
    if (this.#inPiece > 0) this.#endPiece();
    return { sha256: this.#whole.digest('hex'), size: this.#size, pieceSize: this.pieceSize, pieces: this.pieces };
  }
}

/** The manifest of bytes in memory (tests, small blobs). */
export function manifestOf(bytes: Uint8Array, pieceSize: number): BlobManifest {
  const b = new ManifestBuilder(pieceSize);
  b.update(bytes);
  return b.finish();
}
