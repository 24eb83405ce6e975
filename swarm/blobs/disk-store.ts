// The seed's piece store: one sparse file per blob (`<sha256>.data`, pieces written at their
// offsets) and its state (`<sha256>.json`: manifest and bitfield) in a directory, read back at
// start. Unbounded by default; with a budget it evicts like the memory store. The bitfield is
// written after the piece's bytes, so a crash can lose a piece's bit but never claim bytes that
// are not on disk.
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import type { BlobManifest, BlobState, PieceStore, StoreEvent } from './api.ts';
import { countBits, hasBit, validBits } from './bitfield.ts';
import { parseManifest, pieceLength, pieceRange } from './manifest.ts';
import { StoreTable } from './store-table.ts';

const stateFileSchema = z.object({ manifest: z.unknown(), have: z.string() });
const SHA = /^([0-9a-f]{64})\.json$/;

export class DiskPieceStore implements PieceStore {
  readonly dir: string;
  #table: StoreTable;
  #saving = new Map<string, Promise<void>>();
  #dirty = new Set<string>();

  private constructor(dir: string, budget: number) {
    this.dir = dir;
    this.#table = new StoreTable(budget, {
      drop: async (sha) => {
        this.#dirty.delete(sha);
        await this.#saving.get(sha)?.catch(() => undefined);
        await rm(this.#state(sha), { force: true });
        await rm(this.#data(sha), { force: true });
      },
    });
  }

  /** Opens the directory (created if missing) and reads back the blobs it holds. */
  static async create(opts: { dir: string; budget?: number }): Promise<DiskPieceStore> {
    await mkdir(opts.dir, { recursive: true });
    const store = new DiskPieceStore(opts.dir, opts.budget ?? Infinity);
    for (const name of await readdir(opts.dir)) {
      const m = SHA.exec(name);
      if (!m) continue;
      try {
        const raw = stateFileSchema.parse(JSON.parse(await readFile(join(opts.dir, name), 'utf8')));
        const manifest = parseManifest(raw.manifest);
        const have = new Uint8Array(Buffer.from(raw.have, 'base64'));
        if (manifest.sha256 !== m[1] || !validBits(have, manifest.pieces.length)) throw new Error('state does not match its name');
        const count = countBits(have, manifest.pieces.length);
        store.#table.restore({ manifest, have, count, complete: count === manifest.pieces.length, pinned: 0, lastUsed: 0 });
      } catch {
        // An unreadable state file: its blob is fetched again when needed.
        await rm(join(opts.dir, name), { force: true });
        await rm(join(opts.dir, `${m[1]}.data`), { force: true });
      }
    }
    return store;
  }

  #data(sha: string): string {
    return join(this.dir, `${sha}.data`);
  }

  #state(sha: string): string {
    return join(this.dir, `${sha}.json`);
  }

  /** The file of a complete blob (the seed serves it, an installer reads it). */
  filePath(sha256: string): string | undefined {
    return this.#table.get(sha256)?.complete ? this.#data(sha256) : undefined;
  }

  get budget(): number {
    return this.#table.budget;
  }

  get used(): number {
    return this.#table.used;
  }

  async open(manifest: BlobManifest, signal?: AbortSignal): Promise<BlobState> {
    signal?.throwIfAborted();
    const had = this.#table.get(manifest.sha256);
    const s = await this.#table.reserve(manifest);
    if (!had) {
      const fh = await open(this.#data(manifest.sha256), 'w');
      try {
        await fh.truncate(manifest.size);
      } finally {
        await fh.close();
      }
      await this.#save(manifest.sha256);
    }
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
    const fh = await open(this.#data(sha256), 'r+');
    try {
      await fh.write(bytes, 0, bytes.length, pieceRange(s.manifest, index).start);
    } finally {
      await fh.close();
    }
    if (this.#table.get(sha256) !== s) return; // removed meanwhile
    this.#table.mark(s, index);
    await this.#save(sha256);
  }

  async getPiece(sha256: string, index: number): Promise<Uint8Array | undefined> {
    const s = this.#table.get(sha256);
    if (!s || index < 0 || index >= s.manifest.pieces.length || !hasBit(s.have, index)) return undefined;
    this.#table.touch(s);
    const len = pieceLength(s.manifest, index);
    const buf = new Uint8Array(len);
    const fh = await open(this.#data(sha256), 'r');
    try {
      const { bytesRead } = await fh.read(buf, 0, len, pieceRange(s.manifest, index).start);
      if (bytesRead !== len) return undefined;
    } finally {
      await fh.close();
    }
    return buf;
  }

  read(sha256: string, range?: { start: number; end: number }): Readable {
    const s = this.#table.get(sha256);
    if (!s) throw new LpmosError(ErrorCode.NotFound, `blob ${sha256.slice(0, 12)} is not in the piece store`);
    const m = s.manifest;
    const start = range?.start ?? 0;
    const end = range?.end ?? m.size;
    const first = Math.floor(start / m.pieceSize);
    const last = end > start ? Math.floor((end - 1) / m.pieceSize) : first - 1;
    for (let i = first; i <= last; i++) if (!hasBit(s.have, i)) throw new LpmosError(ErrorCode.NotFound, `blob ${sha256.slice(0, 12)}: piece ${i} is not present`);
    this.#table.touch(s);
    if (end <= start) return Readable.from([]);
    // createReadStream's end is inclusive.
    return createReadStream(this.#data(sha256), { start, end: end - 1, highWaterMark: 1024 * 1024 });
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
    await Promise.all([...this.#saving.values()].map((p) => p.catch(() => undefined)));
  }

  /** Writes the state file; saves that pile up while one is running collapse into one more. */
  #save(sha: string): Promise<void> {
    this.#dirty.add(sha);
    const running = this.#saving.get(sha);
    if (running) return running.then(() => (this.#dirty.has(sha) ? this.#save(sha) : undefined));
    const p = (async () => {
      this.#dirty.delete(sha);
      const s = this.#table.get(sha);
      if (!s) return;
      const tmp = `${this.#state(sha)}.tmp`;
      await writeFile(tmp, JSON.stringify({ manifest: s.manifest, have: Buffer.from(s.have).toString('base64') }));
      await rename(tmp, this.#state(sha));
    })().finally(() => this.#saving.delete(sha));
    this.#saving.set(sha, p);
    return p;
  }
}
