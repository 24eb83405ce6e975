// Pieces in flight across every download of one node (issue 7, bench:swarm at 20 Mbit/s): each
// download keeps up to `concurrency` pieces in flight, and an apt run or the benchmark fetches
// several files at once — 4 files × (8 + 2) pieces on one 20 Mbit/s link is 40 MiB asked at once,
// ≈ 16 s per piece, so every piece outlived its timeout and went to the seed again. A shared cap
// keeps the pieces of all downloads few enough to arrive quickly. Pure.

export class PieceSlots {
  readonly total: number;
  #used = 0;
  #waiting: (() => void)[] = [];

  constructor(total: number) {
    if (!Number.isInteger(total) || total < 1) throw new RangeError(`piece slots must be a positive integer, not ${total}`);
    this.total = total;
  }

  get used(): number {
    return this.#used;
  }

  /** Takes a slot when one is free. */
  tryTake(): boolean {
    if (this.#used >= this.total) return false;
    this.#used++;
    return true;
  }

  /** Frees a slot and wakes the download that has waited longest for one. */
  release(): void {
    if (this.#used > 0) this.#used--;
    this.#waiting.shift()?.();
  }

  /** `wake` is called (once) when a slot frees; the function returned withdraws it. */
  wait(wake: () => void): () => void {
    let done = false;
    const w = (): void => {
      if (done) return;
      done = true;
      wake();
    };
    this.#waiting.push(w);
    return () => {
      done = true;
      const i = this.#waiting.indexOf(w);
      if (i >= 0) this.#waiting.splice(i, 1);
    };
  }
}
