// Per-machine ordering of progress events (pure): each seq is applied once, in order. An event
// that arrives ahead of a gap waits; a gap that stays open longer than `gapTimeoutMs` (the
// publisher died with events unsent, or dropped them when its buffer was full) is skipped, so one
// lost event cannot stall a machine's progress forever.

export interface SequencerOptions {
  gapTimeoutMs: number;
  /** Events held behind a gap; beyond this the gap is skipped at once. */
  maxPending: number;
}

export interface Offered<T> {
  /** Events now in order, to apply. */
  apply: T[];
  duplicate: boolean;
}

export class Sequencer<T extends { seq: number }> {
  lastSeq: number;
  readonly #opts: SequencerOptions;
  readonly #pending = new Map<number, { event: T; at: number }>();
  /** Seqs skipped over because of gaps (for metrics). */
  skipped = 0;

  constructor(lastSeq: number, opts: SequencerOptions) {
    this.lastSeq = lastSeq;
    this.#opts = opts;
  }

  get pending(): number {
    return this.#pending.size;
  }

  offer(event: T, now: number): Offered<T> {
    if (event.seq <= this.lastSeq || this.#pending.has(event.seq)) return { apply: [], duplicate: true };
    this.#pending.set(event.seq, { event, at: now });
    if (this.#pending.size > this.#opts.maxPending) return { apply: this.#skipGap(), duplicate: false };
    return { apply: this.#drain(), duplicate: false };
  }

  /** Skips a gap whose first waiting event is older than the timeout; returns what it releases. */
  expire(now: number): T[] {
    let oldest = Infinity;
    for (const p of this.#pending.values()) oldest = Math.min(oldest, p.at);
    return now - oldest >= this.#opts.gapTimeoutMs ? this.#skipGap() : [];
  }

  #skipGap(): T[] {
    const next = Math.min(...this.#pending.keys());
    this.skipped += next - this.lastSeq - 1;
    this.lastSeq = next - 1;
    return this.#drain();
  }

  #drain(): T[] {
    const out: T[] = [];
    for (;;) {
      const p = this.#pending.get(this.lastSeq + 1);
      if (!p) return out;
      this.#pending.delete(this.lastSeq + 1);
      this.lastSeq += 1;
      out.push(p.event);
    }
  }
}
