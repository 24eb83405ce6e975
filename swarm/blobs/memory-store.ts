// The agent's piece store: pieces as buffers in memory (the agent runs from a ramdisk, so memory
// is its only storage) under a byte budget; blobs an install still needs are pinned, others are
// evicted least recently used first.
import { Readable } from 'node:stream';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import type { BlobManifest, BlobState, PieceStore, StoreEvent } from './api.ts';
import { hasBit } from './bitfield.ts';
import { pieceRange } from './manifest.ts';
import { StoreTable } from './store-table.ts';

export class MemoryPieceStore implements PieceStore {
  #pieces = new Map<string, (Uint8Array | undefined)[]>();
  #table: StoreTable;

  constructor(opts: { budget: number }) {
    this.#table = new StoreTable(opts.budget, { drop: async (sha) => void this.#pieces.delete(sha) });
  }

  get budget(): number {
    return this.#table.budget;
  }

  get used(): number {
    return this.#table.used;
  }

  async open(manifest: BlobManifest, signal?: AbortSignal): Promise<BlobState> {
    signal?.throwIfAborted();
    const s = await this.#table.reserve(manifest);
    if (!this.#pieces.has(manifest.sha256)) this.#pieces.set(manifest.sha256, new Array<Uint8Array | undefined>(manifest.pieces.length));
    return s;
  }

  get(sha256: string): BlobState | undefined {
    return this.#table.get(sha256);
  }

  list(): BlobState[] {
    return this.#table.list();
  }

  async putPiece(sha256: string, index: number, bytes: Uint8Array): Promise<void> {
    const s = this.#table.need(sha256, index, bytes);
    if (hasBit(s.have, index)) return;
    // Kept as it is when it is a buffer of its own (the fetcher reads each piece into a new one);
    // a view into a larger buffer (a network chunk, a whole file) is copied, so it does not pin that.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    this.#pieces.get(sha256)![index] = own ? bytes : Uint8Array.prototype.slice.call(bytes);
    this.#table.mark(s, index);
  }

  async getPiece(sha256: string, index: number): Promise<Uint8Array | undefined> {
    const s = this.#table.get(sha256);
    if (!s || index < 0 || index >= s.manifest.pieces.length || !hasBit(s.have, index)) return undefined;
    this.#table.touch(s);
    return this.#pieces.get(sha256)?.[index];
  }

  read(sha256: string, range?: { start: number; end: number }): Readable {
    const s = this.#table.get(sha256);
    if (!s) throw new LpmosError(ErrorCode.NotFound, `blob ${sha256.slice(0, 12)} is not in the piece store`);
    this.#table.touch(s);
    const m = s.manifest;
    const start = range?.start ?? 0;
    const end = range?.end ?? m.size;
    const pieces = this.#pieces.get(sha256)!;
    const first = Math.floor(start / m.pieceSize);
    const last = end > start ? Math.floor((end - 1) / m.pieceSize) : first - 1;
    for (let i = first; i <= last; i++) if (!hasBit(s.have, i)) throw new LpmosError(ErrorCode.NotFound, `blob ${sha256.slice(0, 12)}: piece ${i} is not present`);
    return Readable.from(
      (function* () {
        for (let i = first; i <= last; i++) {
          const r = pieceRange(m, i);
          yield pieces[i]!.subarray(Math.max(start, r.start) - r.start, Math.min(end, r.end) - r.start);
        }
      })(),
      { objectMode: false },
    );
  }

  pin(sha256: string): () => void {
    return this.#table.pin(sha256);
  }

  remove(sha256: string): Promise<void> {
    return this.#table.remove(sha256);
  }

  on(listener: (ev: StoreEvent) => void): () => void {
    return this.#table.on(listener);
  }

  async close(): Promise<void> {
    for (const s of this.#table.list()) await this.#table.remove(s.manifest.sha256);
  }
}
