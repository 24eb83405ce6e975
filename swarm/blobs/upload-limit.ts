// Upload caps on the serving side (issue 7): at most `perPeer` piece uploads in flight to one
// requester and `total` overall; a request over a cap is refused at once (BUSY / 503) so the
// requester asks another holder instead of queueing behind us. Pure.
import type { UploadLimits } from './api.ts';

export const DEFAULT_UPLOADS: UploadLimits = { perPeer: 4, total: 16 };

export class UploadLimiter {
  readonly limits: UploadLimits;
  #perPeer = new Map<string, number>();
  #total = 0;

  constructor(limits: Partial<UploadLimits> = {}) {
    this.limits = { ...DEFAULT_UPLOADS, ...limits };
  }

  get active(): number {
    return this.#total;
  }

  /** A release function when under both caps, else undefined. */
  tryAcquire(peer: string): (() => void) | undefined {
    const n = this.#perPeer.get(peer) ?? 0;
    if (n >= this.limits.perPeer || this.#total >= this.limits.total) return undefined;
    this.#perPeer.set(peer, n + 1);
    this.#total++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#total--;
      const left = (this.#perPeer.get(peer) ?? 1) - 1;
      if (left <= 0) this.#perPeer.delete(peer);
      else this.#perPeer.set(peer, left);
    };
  }
}
