// Bookkeeping shared by both piece stores: the blobs held, their bitfields, the byte budget with
// pins and least-recently-used eviction, and change events. A backend supplies only the bytes
// (memory buffers or a file) through the hooks below.
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import type { BlobManifest, BlobState, StoreEvent } from './api.ts';
import { emptyBits, hasBit, setBit } from './bitfield.ts';
import { pieceLength } from './manifest.ts';

export interface TableHooks {
  /** Frees a blob's bytes (eviction or remove). */
  drop(sha256: string): Promise<void>;
}

export class StoreTable {
  readonly budget: number;
  #used = 0;
  #blobs = new Map<string, BlobState>();
  #listeners = new Set<(ev: StoreEvent) => void>();
  #hooks: TableHooks;
  #clock = 0;

  constructor(budget: number, hooks: TableHooks) {
    if (!(budget > 0)) throw new LpmosError(ErrorCode.Usage, `piece store budget must be positive, got ${budget}`);
    this.budget = budget;
    this.#hooks = hooks;
  }

  get used(): number {
    return this.#used;
  }

  get(sha256: string): BlobState | undefined {
    return this.#blobs.get(sha256);
  }

  list(): BlobState[] {
    return [...this.#blobs.values()];
  }

  /** A monotonic use stamp: Date.now() ties within a millisecond and LRU must not. */
  touch(state: BlobState): void {
    state.lastUsed = ++this.#clock;
  }

  /** Reserves room for a new blob, evicting LRU unpinned blobs. */
  async reserve(manifest: BlobManifest): Promise<BlobState> {
    const existing = this.#blobs.get(manifest.sha256);
    if (existing) {
      this.touch(existing);
      return existing;
    }
    if (manifest.size > this.budget) throw new LpmosError(ErrorCode.Unavailable, `blob ${manifest.sha256.slice(0, 12)} (${manifest.size} bytes) is larger than the store's budget (${this.budget})`);
    while (this.#used + manifest.size > this.budget) {
      const victim = [...this.#blobs.values()].filter((b) => b.pinned === 0).sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!victim) {
        throw new LpmosError(ErrorCode.Unavailable, `piece store full: ${this.#used} of ${this.budget} bytes pinned; blob ${manifest.sha256.slice(0, 12)} needs ${manifest.size}`);
      }
      await this.remove(victim.manifest.sha256);
    }
    // Re-check: a concurrent open of the same blob may have won while we evicted.
    const raced = this.#blobs.get(manifest.sha256);
    if (raced) return raced;
    const state: BlobState = { manifest, have: emptyBits(manifest.pieces.length), count: 0, complete: manifest.pieces.length === 0, pinned: 0, lastUsed: 0 };
    this.touch(state);
    this.#blobs.set(manifest.sha256, state);
    this.#used += manifest.size;
    return state;
  }

  /** Restores a blob read back from disk (no eviction: it was within budget when written). */
  restore(state: BlobState): void {
    this.#blobs.set(state.manifest.sha256, state);
    this.#used += state.manifest.size;
    this.touch(state);
  }

  /** The state of a blob that must be open, and the piece index checked. */
  need(sha256: string, index: number, bytes?: Uint8Array): BlobState {
    const s = this.#blobs.get(sha256);
    if (!s) throw new LpmosError(ErrorCode.NotFound, `blob ${sha256.slice(0, 12)} is not open in the piece store`);
    if (!Number.isInteger(index) || index < 0 || index >= s.manifest.pieces.length) throw new LpmosError(ErrorCode.Validation, `blob ${sha256.slice(0, 12)} has no piece ${index}`);
    if (bytes && bytes.length !== pieceLength(s.manifest, index)) {
      throw new LpmosError(ErrorCode.Validation, `piece ${index} of blob ${sha256.slice(0, 12)} must be ${pieceLength(s.manifest, index)} bytes, got ${bytes.length}`);
    }
    return s;
  }

  /** Marks a piece present (after the backend stored it) and emits events. */
  mark(state: BlobState, index: number): void {
    if (hasBit(state.have, index)) return;
    setBit(state.have, index);
    state.count++;
    this.emit({ type: 'piece', sha256: state.manifest.sha256, index });
    if (state.count === state.manifest.pieces.length) {
      state.complete = true;
      this.emit({ type: 'complete', sha256: state.manifest.sha256 });
    }
  }

  pin(sha256: string): () => void {
    const s = this.#blobs.get(sha256);
    if (!s) throw new LpmosError(ErrorCode.NotFound, `blob ${sha256.slice(0, 12)} is not in the piece store`);
    s.pinned++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      s.pinned--;
    };
  }

  async remove(sha256: string): Promise<void> {
    const s = this.#blobs.get(sha256);
    if (!s) return;
    this.#blobs.delete(sha256);
    this.#used -= s.manifest.size;
    await this.#hooks.drop(sha256);
    this.emit({ type: 'removed', sha256 });
  }

  on(listener: (ev: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(ev: StoreEvent): void {
    for (const l of this.#listeners) {
      try {
        l(ev);
      } catch {
        // a listener's failure is its own; the store goes on
      }
    }
  }
}
