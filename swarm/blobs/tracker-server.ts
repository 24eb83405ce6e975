// The seed's side of the blobs tracker (tracker.ts has the pure rules): agents push their have
// messages here, ask which agents hold a blob, and ask leave before taking a piece from the seed.
// Holds the grants; the holder index is the seed's BlobService's.
import { decodeHave } from './have.ts';
import type { HolderIndex } from './holders.ts';
import { encodeHolders, mayTakeFromSeed, pickHolders, SeedGrants } from './tracker.ts';

/** The counters it keeps (BlobService.tracker). */
export interface TrackerServerCounters { pushesIn: number; pushesRejected: number; queriesIn: number; granted: number; denied: number }

export interface TrackerServerOptions {
  index: HolderIndex;
  claimTtlMs: number;
  counters: TrackerServerCounters;
  /** Enrolled peers only (the gater's view), when set. */
  allowed?: (peer: string) => boolean;
}

export class TrackerServer {
  readonly #o: TrackerServerOptions;
  /** Seed pieces granted and not yet delivered. */
  readonly #grants = new SeedGrants();

  constructor(o: TrackerServerOptions) {
    this.#o = o;
  }

  /** An agent's announcement, pushed to us (its author is the connection's peer). */
  onPush(peer: string, body: Uint8Array): boolean {
    const r = decodeHave(body);
    if (!r.ok || (this.#o.allowed && !this.#o.allowed(peer))) {
      this.#o.counters.pushesRejected++;
      return false;
    }
    this.#o.counters.pushesIn++;
    this.#o.index.update(peer, { addrs: r.msg.addrs, http: r.msg.http }, r.blobs, r.msg.gone ?? []);
    return true;
  }

  /** A few holders of each blob (every fresh claimer, then some at random). */
  holdersFor(peer: string, blobs: string[]): Uint8Array {
    this.#o.counters.queriesIn++;
    const now = Date.now();
    return encodeHolders(
      blobs.flatMap((sha) => pickHolders(this.#o.index.holders(sha), { now, claimTtlMs: this.#o.claimTtlMs, exclude: peer })),
      now,
    );
  }

  /** May this peer take piece i from the seed? Recorded as its claim when it may. */
  grant(peer: string, sha: string, i: number, pieces: number): boolean {
    if (i >= pieces || (this.#o.allowed && !this.#o.allowed(peer))) return false;
    const entries = this.#o.index.holders(sha);
    const ok = !this.#grants.heldByOther(sha, i, peer, entries) && mayTakeFromSeed(entries, { peer, index: i, now: Date.now(), claimTtlMs: this.#o.claimTtlMs });
    if (ok) {
      this.#o.counters.granted++;
      this.#grants.grant(sha, i, peer);
      this.#o.index.claim(peer, sha, pieces, i);
    } else this.#o.counters.denied++;
    return ok;
  }

  forgetPeer(peer: string): void {
    this.#grants.forgetPeer(peer);
  }
}
