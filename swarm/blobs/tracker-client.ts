// The agent's side of the blobs tracker (the seed; tracker-server.ts is the other side): pushes of
// what it holds, holder queries and claims on seed pieces, over one long-lived session stream
// (tracker-session.ts); a tracker without the session protocol (an older seed) gets a libp2p stream
// per request (p2p-client.ts). Pushes and claims are abandoned after 5 s or when the service stops.
import type { Logger } from '../../core/log.ts';
import type { SwarmNode } from '../node.ts';
import { deadline } from './deadline.ts';
import { p2pClaim, p2pHolders, p2pPush } from './p2p-client.ts';
import { PieceError } from './piece-error.ts';
import { TrackerSession, type SessionAnswer } from './tracker-session.ts';
import { decodeHolders, type HoldersDecode, type TrackedHolder } from './tracker.ts';
import type { SeedVerdict } from './download.ts';
import { ReqType, Status, type Request } from './wire.ts';

/** The agent's tracker counters this client keeps (part of BlobService.tracker). */
export interface TrackerClientCounters {
  claimsAsked: number;
  claimsDenied: number;
  claimErrors: number;
  sessionRequests: number;
  sessionsOpened: number;
  /** Bytes of the session's answer bodies (holders answers, refusals). */
  sessionAnswerBytes: number;
}

export interface TrackerClientOptions {
  libp2p: SwarmNode['libp2p'];
  /** The tracker's peer id. */
  tracker: string;
  counters: TrackerClientCounters;
  log: Logger;
  /** The service's stop: ends every request. */
  stop: AbortSignal;
  /** Holders a refused claim named (into the holder index). */
  onHolders?: (holders: TrackedHolder[]) => void;
}

export class TrackerClient {
  readonly #o: TrackerClientOptions;
  /** The request stream, opened on first use. */
  #sessionOf: TrackerSession | undefined;
  #claimErrorsInRow = 0;

  constructor(o: TrackerClientOptions) {
    this.#o = o;
  }

  close(): void {
    this.#sessionOf?.close();
    this.#sessionOf = undefined;
  }

  /** Our have message, pushed to the tracker. */
  push(body: Uint8Array): Promise<void> {
    return this.#withDeadline(5000, async (signal) => {
      const r = await this.#session({ type: ReqType.Push, body }, signal);
      if (!r) return p2pPush(this.#o.libp2p, { peerId: this.#o.tracker, addrs: [] }, body, signal);
      if (r.status !== Status.Ok) throw new PieceError('failed', 'the tracker did not take the push');
    });
  }

  /** The tracker's holders answer for these blobs, decoded. */
  async holders(blobs: string[], signal: AbortSignal): Promise<HoldersDecode> {
    const r = await this.#session({ type: ReqType.Holders, blobs }, signal);
    if (!r) return decodeHolders(await p2pHolders(this.#o.libp2p, { peerId: this.#o.tracker, addrs: [] }, blobs, signal), Date.now());
    if (r.status !== Status.Ok) throw new PieceError('failed', 'the tracker did not answer holders?');
    return r.holders ?? { ok: false, detail: 'an empty answer' };
  }

  /**
   * May we take piece i from the seed? A refusal's named holder goes into the index; `busy`: the seed
   * has its granted pieces in flight. A tracker that does not answer does not stop us.
   */
  async askSeed(sha256: string, index: number, pieces: number): Promise<SeedVerdict> {
    const c = this.#o.counters;
    c.claimsAsked++;
    try {
      const verdict = await this.#withDeadline(5000, async (signal): Promise<SeedVerdict> => {
        const r = await this.#session({ type: ReqType.Claim, sha256, index, pieces }, signal);
        if (!r) return { verdict: (await p2pClaim(this.#o.libp2p, { peerId: this.#o.tracker, addrs: [] }, sha256, index, pieces, signal)) ? 'granted' : 'refused' };
        if (r.status === Status.Ok) return { verdict: 'granted' };
        const a = r.holders;
        if (!a) return { verdict: 'refused' };
        if (a.retryMs !== undefined && a.holders.length === 0) return { verdict: 'busy', retryMs: a.retryMs };
        this.#o.onHolders?.(a.holders);
        return { verdict: 'refused' };
      });
      this.#claimErrorsInRow = 0;
      if (verdict.verdict === 'refused') c.claimsDenied++;
      return verdict;
    } catch (e) {
      // A busy tracker that answers late must not cost the seed a copy (bench:swarm N = 32: half
      // the seed's pieces were such "grants"); one that failed 3 times in a row is taken as gone.
      c.claimErrors++;
      this.#o.log.debug({ err: (e as Error).message }, 'tracker did not answer a claim');
      return { verdict: ++this.#claimErrorsInRow > 3 ? 'granted' : 'refused' };
    }
  }

  /**
   * A request over the session stream; undefined when the tracker does not speak it. Statuses other
   * than OK and BUSY fail.
   */
  async #session(req: Request, signal: AbortSignal): Promise<SessionAnswer | undefined> {
    const s = (this.#sessionOf ??= new TrackerSession(this.#o.libp2p, this.#o.tracker));
    if (s.unsupported) return undefined;
    try {
      const r = await s.request(req, signal);
      this.#o.counters.sessionRequests++;
      this.#o.counters.sessionsOpened = s.stats.opened;
      this.#o.counters.sessionAnswerBytes = s.stats.answerBytes;
      if (r.status !== Status.Ok && r.status !== Status.Busy) throw new PieceError('failed', `tracker ${this.#o.tracker.slice(-8)} refused the request (status ${r.status})`);
      return r;
    } catch (e) {
      if (s.unsupported) return undefined;
      throw e;
    }
  }

  /** Runs a request that is abandoned when the service stops or after `ms`. */
  async #withDeadline<T>(ms: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const dl = deadline(this.#o.stop, ms);
    try {
      return await fn(dl.signal);
    } finally {
      dl.done();
    }
  }
}
