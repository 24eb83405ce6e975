// The seed's side of the blobs tracker (tracker.ts has the pure rules): agents push their have
// messages here, ask which agents hold a blob, and ask leave before taking a piece from the seed.
// Holds the grants; the holder index is the seed's BlobService's.
import { decodeHave } from './have.ts';
import type { HolderIndex } from './holders.ts';
import type { HaveEntry } from './api.ts';
import { emptyBits, setBit } from './bitfield.ts';
import { holderOf, pickHolders, SeedGrants, type HoldersReply } from './tracker.ts';
import { RateMeter } from './rate-meter.ts';

/** The counters it keeps (BlobService.tracker). */
export interface TrackerServerCounters { pushesIn: number; pushesRejected: number; queriesIn: number; granted: number; denied: number; grantsBusy: number }

/**
 * Granted seed pieces in flight at most: about what the seed delivers in GRANT_TARGET_MS at the rate
 * it delivers now, plus GRANT_HEADROOM (so a faster link shows itself), between MIN_GRANTS and
 * MAX_GRANTS; INITIAL_GRANTS before anything was delivered. Each piece the seed sends then arrives
 * in about GRANT_TARGET_MS instead of sharing the seed's uplink with every agent's requests
 * (bench:swarm N = 32 at 20 Mbit/s: up to 4 seed pieces per agent asked at once, pieces outlived
 * the 30 s grant and were sent again), and a piece that arrives sooner is passed on sooner; a fixed
 * cap of 8 that suited 20 Mbit/s held 32 agents on 100 Mbit/s links back (median 56 s against 49).
 */
export const INITIAL_GRANTS = 8;
export const MIN_GRANTS = 4;
export const MAX_GRANTS = 64;
export const GRANT_HEADROOM = 2;
export const GRANT_TARGET_MS = 2000;

/** The cap for a delivery rate (pieces per second; undefined: nothing measured yet). Pure. */
export function grantCap(piecesPerSecond: number | undefined): number {
  if (piecesPerSecond === undefined) return INITIAL_GRANTS;
  return Math.min(MAX_GRANTS, Math.max(MIN_GRANTS, Math.ceil((piecesPerSecond * GRANT_TARGET_MS) / 1000) + GRANT_HEADROOM));
}

/**
 * A fetcher told the seed is busy asks again after about this long, ms: long enough that the agents
 * told so in the last second ask about twice as often in all as grants free up (the delivery rate;
 * 12.5 a second before one is measured), between BUSY_RETRY_MS and MAX_BUSY_RETRY_MS — a freed grant
 * is taken within a fraction of a piece's time, and the rest of the asks are not made (bench:swarm
 * N = 32 with a fixed 200–500 ms: 5 416 busy answers, a third of all tracker requests; with 40 ms
 * per waiting agent up to 2 s still 3 374 of 14 328).
 */
export const BUSY_RETRY_MS = 250;
export const MAX_BUSY_RETRY_MS = 4000;
export function busyRetryMs(waiting: number, deliveriesPerSecond?: number): number {
  const asksPerSecond = 2 * Math.max(1, deliveriesPerSecond ?? 12.5);
  return Math.round(Math.min(MAX_BUSY_RETRY_MS, Math.max(BUSY_RETRY_MS, (1000 * waiting) / asksPerSecond)));
}

/**
 * The tracker's answer to a CLAIM: granted, or refused with a reply (who holds or claims it, or
 * retryMs), encoded when it is written (tracker.ts encodeReply: a session's answers are numbered).
 */
export interface ClaimAnswer {
  ok: boolean;
  reply?: HoldersReply;
}

/**
 * A claim that finds the seed's granted pieces at the cap waits up to HOLD_MS for one of them to be
 * delivered (the grantee's push shows it) and is granted then, first come first served, instead of
 * being told "busy" at once. With "busy, ask again after 250 ms … 4 s" a freed grant stayed unused
 * until some agent asked again: bench:swarm N = 8 at 10 Mbit/s, 460 of 631 claims answered busy and
 * the seed's link 60 % used. Under the agent's 5 s claim deadline; at most MAX_WAITING claims wait
 * (an agent asks ≤ 4 seed pieces at a time), beyond that "busy" at once.
 */
export const HOLD_MS = 2000;
export const MAX_WAITING = 4096;

export interface TrackerServerOptions {
  index: HolderIndex;
  claimTtlMs: number;
  counters: TrackerServerCounters;
  /** Enrolled peers only (the gater's view), when set. */
  allowed?: (peer: string) => boolean;
  /** Granted seed pieces in flight at most, fixed (default: grantCap of the measured delivery rate). */
  maxGrants?: number;
  /** How long a claim over the cap waits for a grant to free, ms (default HOLD_MS; 0: "busy" at once). */
  holdMs?: number;
}

interface Waiting {
  peer: string;
  sha: string;
  index: number;
  pieces: number;
  resolve: (a: ClaimAnswer) => void;
  timer: NodeJS.Timeout;
}

type Verdict = { kind: 'refused'; reply?: HoldersReply } | { kind: 'free' } | { kind: 'full' };

export class TrackerServer {
  readonly #o: TrackerServerOptions;
  /** Seed pieces granted and not yet delivered; deliveries per second (a piece counts 1). */
  readonly #delivered = new RateMeter({ windowMs: 5000 });
  readonly #grants = new SeedGrants({ onDelivered: () => this.#delivered.record(1, Date.now()) });
  /** Peers told the seed is busy since `#busySince` (a window of about a second). */
  #busy = new Set<string>();
  #busySince = 0;
  /** Claims waiting for a grant to free, oldest first. */
  #waiting: Waiting[] = [];

  constructor(o: TrackerServerOptions) {
    this.#o = o;
  }

  /** Claims waiting for a grant now. */
  get waiting(): number {
    return this.#waiting.length;
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
    // A push is how a delivered seed piece shows: a waiting claim may go now.
    if (this.#waiting.length > 0) this.#drain();
    return true;
  }

  /** A few holders of each blob (every fresh claimer, then some at random). */
  holdersFor(peer: string, blobs: string[]): HoldersReply {
    this.#o.counters.queriesIn++;
    const now = Date.now();
    return { entries: blobs.flatMap((sha) => pickHolders(this.#o.index.holders(sha), { now, claimTtlMs: this.#o.claimTtlMs, exclude: peer })), now };
  }

  /**
   * May this peer take piece i from the seed? Recorded as its claim when it may. A refusal names the
   * peer that holds the piece or whose grant or claim on it stands (so the asker can wait for it and
   * fetch from it — the holders it polled may not include it), or says the seed is busy. Answers at
   * once; `claim` is the same with the wait for a free grant.
   */
  grant(peer: string, sha: string, i: number, pieces: number): ClaimAnswer {
    const v = this.#verdict(peer, sha, i, pieces);
    return v.kind === 'full' ? this.#busyAnswer(peer) : this.#answer(peer, sha, i, pieces, v);
  }

  /** `grant`, but over the cap the claim waits (up to `holdMs`) for a grant to free before "busy". */
  claim(peer: string, sha: string, i: number, pieces: number): ClaimAnswer | Promise<ClaimAnswer> {
    // A grant may have ended unseen (its grantee gone, its time up): the claims waiting go first.
    if (this.#waiting.length > 0) this.#drain();
    const v = this.#verdict(peer, sha, i, pieces);
    if (v.kind !== 'full') return this.#answer(peer, sha, i, pieces, v);
    const holdMs = this.#o.holdMs ?? HOLD_MS;
    if (holdMs <= 0 || this.#waiting.length >= MAX_WAITING) return this.#busyAnswer(peer);
    return new Promise((resolve) => {
      const w: Waiting = {
        peer,
        sha,
        index: i,
        pieces,
        resolve,
        timer: setTimeout(() => {
          this.#unwait(w);
          resolve(this.#busyAnswer(peer));
        }, holdMs),
      };
      w.timer.unref();
      this.#waiting.push(w);
    });
  }

  /** Granted seed pieces in flight at most, now. */
  cap(now = Date.now()): number {
    return this.#o.maxGrants ?? grantCap(this.#delivered.rate(now));
  }

  forgetPeer(peer: string): void {
    this.#grants.forgetPeer(peer);
    for (const w of this.#waiting.filter((x) => x.peer === peer)) {
      this.#unwait(w);
      w.resolve({ ok: false });
    }
    if (this.#waiting.length > 0) this.#drain();
  }

  /** Answers every waiting claim "busy" (the seed stops). */
  close(): void {
    for (const w of [...this.#waiting]) {
      this.#unwait(w);
      w.resolve(this.#busyAnswer(w.peer));
    }
  }

  /** Waiting claims, oldest first, while grants are free: each granted, or refused if the piece found a holder meanwhile. */
  #drain(): void {
    while (this.#waiting.length > 0) {
      const w = this.#waiting[0]!;
      const v = this.#verdict(w.peer, w.sha, w.index, w.pieces);
      if (v.kind === 'full') return;
      this.#unwait(w);
      w.resolve(this.#answer(w.peer, w.sha, w.index, w.pieces, v));
    }
  }

  #unwait(w: Waiting): void {
    clearTimeout(w.timer);
    const k = this.#waiting.indexOf(w);
    if (k >= 0) this.#waiting.splice(k, 1);
  }

  /** The decision alone (no counters): refused (with whom to ask instead), free to grant, or the cap is reached. */
  #verdict(peer: string, sha: string, i: number, pieces: number): Verdict {
    if (i >= pieces || (this.#o.allowed && !this.#o.allowed(peer))) return { kind: 'refused' };
    const now = Date.now();
    const entries = this.#o.index.holders(sha);
    const grantee = this.#grants.grantee(sha, i, entries);
    const other = grantee !== undefined && grantee !== peer ? entries.find((e) => e.peerId === grantee) : holderOf(entries, { peer, index: i, now, claimTtlMs: this.#o.claimTtlMs });
    if (other) return { kind: 'refused', reply: { entries: [grantee === other.peerId ? claimed(other, i, now) : other], now } };
    if (grantee !== peer && this.#grants.outstanding((s) => this.#o.index.holders(s)) >= this.cap(now)) return { kind: 'full' };
    return { kind: 'free' };
  }

  #answer(peer: string, sha: string, i: number, pieces: number, v: Exclude<Verdict, { kind: 'full' }>): ClaimAnswer {
    const c = this.#o.counters;
    if (v.kind === 'refused') {
      c.denied++;
      return v.reply ? { ok: false, reply: v.reply } : { ok: false };
    }
    c.granted++;
    this.#grants.grant(sha, i, peer);
    this.#o.index.claim(peer, sha, pieces, i);
    return { ok: true };
  }

  #busyAnswer(peer: string): ClaimAnswer {
    const now = Date.now();
    this.#o.counters.grantsBusy++;
    if (now - this.#busySince > 1000) {
      this.#busy.clear();
      this.#busySince = now;
    }
    this.#busy.add(peer);
    return { ok: false, reply: { retryMs: busyRetryMs(this.#busy.size, this.#delivered.rate(now)) } };
  }
}

/** A grantee's entry as the tracker vouches for it now: fetching piece i (its grant stands), fresh. */
function claimed(e: HaveEntry, i: number, now: number): HaveEntry {
  const fetching = emptyBits(e.pieces);
  if (e.fetching) fetching.set(e.fetching.subarray(0, fetching.length));
  setBit(fetching, i);
  return { ...e, fetching, at: now };
}
