// have? queries to connected peers, batched: fetches that start within `windowMs` of each other
// (an apt run asks for hundreds of packages at once) share one HAVE? request per peer carrying up
// to 256 blobs, instead of one stream per blob per peer — or, with a tracker, one HOLDERS? to the
// tracker (tracker.ts). Answers go into the holder index.
import type { Libp2p } from '@libp2p/interface';
import { deadline } from './deadline.ts';
import { decodeHave } from './have.ts';
import type { HolderIndex } from './holders.ts';
import { p2pHave, type PeerTarget } from './p2p-client.ts';
import { MAX_HAVE_QUERY } from './wire.ts';

export interface DiscoverDeps {
  libp2p: Libp2p;
  index: HolderIndex;
  /** Whom to ask (connected peers, a bounded random subset). */
  peers: () => PeerTarget[];
  /** How long a batch waits for answers, ms. */
  timeoutMs: number;
  windowMs?: number;
  /** Tracker mode: one query for the batch (to the tracker) instead of have? to every peer. */
  query?: (shas: string[], signal: AbortSignal) => Promise<void>;
}

interface Waiter {
  resolve: () => void;
}

export class HaveDiscovery {
  #d: DiscoverDeps;
  #pending = new Map<string, Waiter[]>();
  #timer: NodeJS.Timeout | undefined;
  readonly stats = { batches: 0, queries: 0 };

  constructor(deps: DiscoverDeps) {
    this.#d = deps;
  }

  /** Resolves when this blob's batch was answered (or timed out); never rejects. */
  ask(sha256: string, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const list = this.#pending.get(sha256) ?? [];
      // The listener goes with the answer: callers pass the service's long-lived stop signal, and
      // thousands of stale listeners on it made every addEventListener walk them all.
      const done = (): void => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      list.push({ resolve: done });
      this.#pending.set(sha256, list);
      signal?.addEventListener('abort', done, { once: true });
      if (this.#pending.size >= MAX_HAVE_QUERY) this.#flush();
      else if (!this.#timer) {
        this.#timer = setTimeout(() => this.#flush(), this.#d.windowMs ?? 10);
        this.#timer.unref();
      }
    });
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = [...this.#pending.entries()].slice(0, MAX_HAVE_QUERY);
    for (const [sha] of batch) this.#pending.delete(sha);
    if (this.#pending.size > 0) this.#timer = setTimeout(() => this.#flush(), 0);
    const shas = batch.map(([sha]) => sha);
    const dl = deadline(undefined, this.#d.timeoutMs);
    const signal = dl.signal;
    this.stats.batches++;
    const query = this.#d.query;
    void Promise.allSettled(
      query
        ? [(this.stats.queries++, query(shas, signal))]
        : this.#d.peers().map(async (p) => {
            this.stats.queries++;
            const r = decodeHave(await p2pHave(this.#d.libp2p, p, shas, signal));
            if (r.ok && r.blobs.length > 0) this.#d.index.update(p.peerId, { addrs: r.msg.addrs, http: r.msg.http }, r.blobs, []);
          }),
    ).then(() => {
      dl.done();
      for (const [, waiters] of batch) for (const w of waiters) w.resolve();
    });
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const waiters of this.#pending.values()) for (const w of waiters) w.resolve();
    this.#pending.clear();
  }
}
