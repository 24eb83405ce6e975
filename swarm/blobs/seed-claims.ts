// The seed pieces a node is fetching right now, per blob (index → fetches): announced as
// `fetching`, so others leave those pieces to it (the cold start). Pure.
import { emptyBits, setBit } from './bitfield.ts';

export class SeedClaims {
  #bySha = new Map<string, Map<number, number>>();

  /** The bitfield of claimed pieces of a blob of `pieces` pieces; undefined when none. */
  fetching(sha: string, pieces: number): Uint8Array | undefined {
    const c = this.#bySha.get(sha);
    if (!c || c.size === 0) return undefined;
    const bits = emptyBits(pieces);
    for (const i of c.keys()) setBit(bits, i);
    return bits;
  }

  /** Claims piece i; the function returned ends this claim (once). */
  claim(sha: string, i: number): () => void {
    let c = this.#bySha.get(sha);
    if (!c) this.#bySha.set(sha, (c = new Map()));
    c.set(i, (c.get(i) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (c.get(i) ?? 1) - 1;
      if (left > 0) c.set(i, left);
      else c.delete(i);
      if (c.size === 0 && this.#bySha.get(sha) === c) this.#bySha.delete(sha);
    };
  }
}
