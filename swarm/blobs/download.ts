// One blob's download (issue 7): pieces from several holders at once (plan.ts), each verified
// against the manifest before it is stored — the store announces it at once, so others can fetch
// from us while we are still downloading. A holder that sends bad bytes is dropped for this blob
// and the piece asked elsewhere; one that fails or is slow twice is benched; a piece no peer has,
// or that peers failed twice, comes from the seed (HTTP Range). The whole is verified at the end.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { BlobManifest, BlobStats, FetchOptions, HaveEntry, PieceStore } from './api.ts';
import { hasBit } from './bitfield.ts';
import { pieceLength, pieceMatches } from './manifest.ts';
import { deadline } from './deadline.ts';
import { failureOf, PieceError } from './piece-error.ts';
import { nextPeerPiece, nextSeedPiece, type HolderView } from './plan.ts';
import type { PieceSlots } from './slots.ts';

export type PollUrgency = 'soon' | 'starved' | 'fed';

/**
 * The tracker's word on a seed piece: `granted`; `refused` — another agent holds it or fetches it
 * from the seed (the answer named it: it is in the holder index now); `busy` — the seed has as many
 * pieces in flight as it allows: ask again after about `retryMs` (no refusal counted).
 */
export type SeedVerdict = { verdict: 'granted' | 'refused' } | { verdict: 'busy'; retryMs: number };

/** Why pieces came from the seed without the tracker's grant (counters; BlobService.tracker). */
export interface SeedForcedCounters {
  seedForcedFailures: number;
  seedForcedDenials: number;
  seedBusy: number;
}

export interface DownloadTuning {
  /** Pieces in flight in total, per holder, and from the seed — per download. */
  concurrency: number;
  perHolder: number;
  seedConcurrency: number;
  /** Peer pieces and seed pieces in flight across all downloads of the node (slots.ts). */
  nodeSlots: number;
  nodeSeedSlots: number;
  /**
   * A peer piece slower than this is abandoned (the holder counts a failure), ms — the floor: with a
   * node-wide rate measured (`DownloadDeps.peerTimeoutMs`) the limit grows with the bytes in flight.
   */
  pieceTimeoutMs: number;
  /** A seed piece slower than this is retried, ms. */
  seedTimeoutMs: number;
  /** Failures (error, timeout) in a row after which a holder is benched for a while (2 s, doubling to 30 s). */
  maxHolderFailures: number;
  /** Peer failures of one piece after which the seed may serve it. */
  seedAfterPeerFailures: number;
  /** Tracker refusals of one seed piece (none of them explained by a claim or holder we can use) after which we take it anyway. */
  seedAfterDenials: number;
  /** With no seed URL: give up when no holder has a missing piece for this long, ms. */
  noSourceTimeoutMs: number;
  /** Another peer's claim on a seed piece (`fetching`) is honoured while its last announcement is this fresh, ms. */
  claimTtlMs: number;
}

export const DEFAULT_TUNING: DownloadTuning = {
  concurrency: 8,
  perHolder: 2,
  seedConcurrency: 2,
  nodeSlots: 8,
  nodeSeedSlots: 4,
  pieceTimeoutMs: 5000,
  seedTimeoutMs: 30_000,
  maxHolderFailures: 2,
  seedAfterPeerFailures: 2,
  seedAfterDenials: 3,
  noSourceTimeoutMs: 10_000,
  claimTtlMs: 5000,
};

export interface DownloadDeps {
  store: PieceStore;
  self: string;
  holders: (sha256: string) => HaveEntry[];
  /** Forget a holder for a blob in the shared index (bad bytes). */
  forget: (peerId: string, sha256: string) => void;
  peerPiece: (holder: HaveEntry, m: BlobManifest, index: number, signal: AbortSignal) => Promise<Uint8Array>;
  seedPiece: (url: string, m: BlobManifest, index: number, signal: AbortSignal) => Promise<Uint8Array>;
  /**
   * Asks for fresh holder knowledge while the download runs (the tracker; throttled by the caller):
   * `soon` after a refused seed piece, `starved` while pieces wait for a source, `fed` while every
   * slot is busy (rarely: each query is a libp2p stream, which costs both ends more CPU than a piece).
   */
  poll?: (sha256: string, urgency: PollUrgency) => void;
  /**
   * Asks the tracker whether we may take piece i from the seed (false: another peer fetches or holds
   * it — we learn who at the next poll). Absent: claims travel by gossip only.
   */
  askSeed?: (sha256: string, index: number, pieces: number) => Promise<SeedVerdict>;
  /** Pieces in flight across all the node's downloads (peer pieces; seed pieces in `seedSlots`). Absent: per-download limits only. */
  slots?: PieceSlots;
  seedSlots?: PieceSlots;
  /** The time a peer piece of this many bytes may take now, ms (rate-meter.ts); absent: `tuning.pieceTimeoutMs`. */
  peerTimeoutMs?: (bytes: number) => number;
  counters?: SeedForcedCounters;
  /** Shared by the node's downloads: no seed piece is asked before `until` (ms) — the tracker said the seed is busy. */
  seedPause?: { until: number };
  /** Announces that we fetch this piece from the seed; the function ends the claim. */
  claim: (sha256: string, index: number) => () => void;
  stats: BlobStats;
  log: Logger;
  tuning: DownloadTuning;
}

export interface DownloadResult {
  fromSeed: number;
  fromPeers: number;
  peers: string[];
  dropped: string[];
}

interface Holder extends HolderView {
  entry: HaveEntry;
  failures: number;
  strikes: number;
}

export async function download(d: DownloadDeps, m: BlobManifest, opts: FetchOptions): Promise<DownloadResult> {
  const sha = m.sha256;
  const t = d.tuning;
  const state = await d.store.open(m, opts.signal);
  const n = m.pieces.length;
  const result: DownloadResult = { fromSeed: 0, fromPeers: 0, peers: [], dropped: [] };
  const inFlight = new Map<number, 'seed' | string>();
  const excluded = new Map<number, Set<string>>();
  const peerFailures = new Map<number, number>();
  /** Seed pieces the tracker refused us, until when (ms): asked again only after that. */
  const denied = new Map<number, number>();
  /**
   * Refusals per piece. The tracker refuses while any holder has the piece — also one this fetch
   * dropped for bad bytes or that answered NOT_FOUND, which it cannot know: after
   * `seedAfterDenials` refusals with no claim or usable holder in sight the piece comes from the seed.
   */
  const denials = new Map<number, number>();
  const holders = new Map<string, Holder>();
  const gone = new Set<string>(); // dropped for bad bytes
  let seedInFlight = 0;
  /** The tracker said the seed is busy: no seed piece before this time (ms), for every download of the node. */
  const seedPause = d.seedPause ?? { until: 0 };
  let lastSource = Date.now();
  let wake: () => void = () => undefined;
  let firstError: unknown;
  const abort = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, abort.signal]) : abort.signal;

  const missing = (): number => n - (d.store.get(sha)?.count ?? state.count);
  const wanted = (i: number): boolean => !hasBit(state.have, i) && !inFlight.has(i);

  const refresh = (): void => {
    for (const e of d.holders(sha)) {
      if (e.peerId === d.self || gone.has(e.peerId) || e.pieces !== n) continue;
      const h = holders.get(e.peerId);
      if (h) h.entry = e;
      else holders.set(e.peerId, { id: e.peerId, entry: e, have: e.have, inFlight: 0, busyUntil: 0, failures: 0, strikes: 0 });
      holders.get(e.peerId)!.have = e.have;
    }
  };

  const progress = (): void => {
    const s = d.store.get(sha);
    opts.onProgress?.({ bytes: s ? bytesPresent(m, s.have) : 0, size: m.size, fromSeed: result.fromSeed, fromPeers: result.fromPeers });
  };

  const accept = (i: number, bytes: Uint8Array): Promise<void> => d.store.putPiece(sha, i, bytes, signal);

  const fromPeer = async (h: Holder, i: number): Promise<void> => {
    const dl = deadline(signal, d.peerTimeoutMs?.(pieceLength(m, i)) ?? t.pieceTimeoutMs);
    try {
      const bytes = await d.peerPiece(h.entry, m, i, dl.signal);
      if (!pieceMatches(m, i, bytes)) throw new PieceError('bad-bytes', `piece ${i} of ${sha.slice(0, 12)} from ${h.id.slice(-8)} does not match its sha256`);
      await accept(i, bytes);
      lastSource = Date.now();
      h.failures = 0;
      h.strikes = 0;
      result.fromPeers += bytes.length;
      d.stats.bytesFromPeers += bytes.length;
      d.stats.piecesFromPeers++;
      if (!result.peers.includes(h.id)) result.peers.push(h.id);
      progress();
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      const why = failureOf(e, dl.timedOut);
      if (why === 'bad-bytes') {
        d.stats.badPieces++;
        if (!result.dropped.includes(h.id)) {
          d.stats.peersDropped++;
          d.log.warn({ blob: sha.slice(0, 12), piece: i, peer: h.id }, 'peer sent bad bytes: dropped for this blob');
        }
        dropHolder(h.id);
      } else if (why === 'busy') {
        h.busyUntil = Date.now() + 250;
      } else if (why === 'not-found') {
        exclude(h.id, i);
      } else {
        // Failed or slow: not excluded for good (an overloaded holder recovers, and with no seed URL
        // it may be the only source), but benched — 2 s, 4 s, … up to 30 s — after every
        // `maxHolderFailures` failures in a row, so its pieces go to other holders or the seed.
        peerFailures.set(i, (peerFailures.get(i) ?? 0) + 1);
        if (++h.failures >= t.maxHolderFailures) {
          h.failures = 0;
          const ms = Math.min(30_000, 1000 * 2 ** ++h.strikes);
          h.busyUntil = Date.now() + ms;
          d.log.info({ blob: sha.slice(0, 12), peer: h.id, why, ms }, 'holder failed or is slow: replaced for a while');
        }
      }
    } finally {
      dl.done();
    }
  };

  const fromSeed = async (url: string, i: number, forced: boolean): Promise<void> => {
    const v: SeedVerdict = forced || !d.askSeed ? { verdict: 'granted' } : await d.askSeed(sha, i, n);
    if (v.verdict === 'busy') {
      // The seed has its pieces in flight: no seed piece is asked for a while (jittered, so the
      // waiting fetchers do not all ask again together).
      if (d.counters) d.counters.seedBusy++;
      seedPause.until = Math.max(seedPause.until, Date.now() + v.retryMs * (0.75 + Math.random() / 2));
      return;
    }
    if (v.verdict === 'refused') {
      denied.set(i, Date.now() + 1000);
      // Counted only when the refusal is not explained by a claim or a holder we can use (the
      // answer put the one it named into the index): one we dropped, benched or that lacks it.
      refresh();
      if (!claimedByOther(i, Date.now()) && !usableHolder(i, Date.now())) denials.set(i, (denials.get(i) ?? 0) + 1);
      d.poll?.(sha, 'soon');
      return;
    }
    const dl = deadline(signal, t.seedTimeoutMs);
    const unclaim = d.claim(sha, i);
    try {
      const bytes = await d.seedPiece(url, m, i, dl.signal);
      if (!pieceMatches(m, i, bytes)) throw new LpmosError(ErrorCode.Validation, `piece ${i} of ${sha.slice(0, 12)} from the seed (${url}) does not match its sha256`);
      await accept(i, bytes);
      lastSource = Date.now();
      result.fromSeed += bytes.length;
      d.stats.bytesFromSeed += bytes.length;
      d.stats.piecesFromSeed++;
      progress();
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      // The seed is the source of truth: bad bytes from it, or a 404, end the fetch.
      if (e instanceof LpmosError && (e.code === ErrorCode.Validation || e.code === ErrorCode.NotFound)) firstError ??= e;
      else d.log.warn({ blob: sha.slice(0, 12), piece: i, err: (e as Error).message }, 'seed piece failed; retrying');
      await sleep(200, undefined, { signal }).catch(() => undefined);
    } finally {
      dl.done();
      unclaim();
    }
  };

  /** A holder of piece i we may ask (not dropped, not failed on it, not benched). */
  const usableHolder = (i: number, now: number): boolean => {
    for (const h of holders.values()) if (hasBit(h.have, i) && !(excluded.get(i)?.has(h.id) ?? false) && (h.strikes === 0 || h.busyUntil <= now)) return true;
    return false;
  };

  /** Another live peer is fetching piece i from the seed and does not have it yet: wait for it. */
  const claimedByOther = (i: number, now: number): boolean => {
    for (const h of holders.values()) {
      const f = h.entry.fetching;
      if (f && hasBit(f, i) && !hasBit(h.have, i) && now - h.entry.at < t.claimTtlMs) return true;
    }
    return false;
  };

  function exclude(peer: string, i: number): void {
    let s = excluded.get(i);
    if (!s) excluded.set(i, (s = new Set()));
    s.add(peer);
  }

  function dropHolder(peer: string): void {
    gone.add(peer);
    holders.delete(peer);
    d.forget(peer, sha);
    if (!result.dropped.includes(peer)) result.dropped.push(peer);
  }

  const run = (i: number, source: 'seed' | string, p: Promise<void>): void => {
    inFlight.set(i, source);
    p.catch((e: unknown) => {
      firstError ??= e;
    }).finally(() => {
      inFlight.delete(i);
      if (source === 'seed') {
        seedInFlight--;
        d.seedSlots?.release();
      } else {
        d.slots?.release();
        const h = holders.get(source);
        if (h) h.inFlight--;
      }
      wake();
    });
  };

  try {
    while (missing() > 0) {
      if (firstError) throw firstError;
      signal.throwIfAborted();
      refresh();
      const now = Date.now();
      // Benched holders (failed or slow) are out of both plans: their pieces may go to the seed.
      const view = [...holders.values()].filter((h) => h.strikes === 0 || h.busyUntil <= now);
      const plan = { pieces: n, wanted, holders: view, perHolder: t.perHolder, excluded: (h: string, i: number) => excluded.get(i)?.has(h) ?? false, now };
      let started = false;
      /** A piece waits for one of the node's slots (all downloads share them). */
      let waitSlot: PieceSlots | undefined;
      while (inFlight.size < t.concurrency) {
        const next = nextPeerPiece(plan);
        if (!next) break;
        if (d.slots && !d.slots.tryTake()) {
          waitSlot = d.slots;
          break;
        }
        const h = holders.get(next.holder)!;
        h.inFlight++;
        run(next.index, h.id, fromPeer(h, next.index));
        started = true;
      }
      if (opts.seedUrl) {
        const seedUrl = opts.seedUrl;
        while (seedPause.until <= now && inFlight.size < t.concurrency + t.seedConcurrency && seedInFlight < t.seedConcurrency) {
          const i = nextSeedPiece({
            ...plan,
            wanted: (j) => wanted(j) && ((peerFailures.get(j) ?? 0) >= t.seedAfterPeerFailures || (!claimedByOther(j, plan.now) && (denied.get(j) ?? 0) <= plan.now)),
            forSeed: (j) => (peerFailures.get(j) ?? 0) >= t.seedAfterPeerFailures,
          });
          if (i === undefined) break;
          if (d.seedSlots && !d.seedSlots.tryTake()) {
            waitSlot ??= d.seedSlots;
            break;
          }
          seedInFlight++;
          // Not asked of the tracker when peers failed it twice: otherwise a holder that is only slow
          // (benched for a while) makes us wait for it rather than cost the seed another copy.
          const byFailures = (peerFailures.get(i) ?? 0) >= t.seedAfterPeerFailures;
          const forced = byFailures || (denials.get(i) ?? 0) >= t.seedAfterDenials;
          if (forced && d.counters && d.askSeed) {
            if (byFailures) d.counters.seedForcedFailures++;
            else d.counters.seedForcedDenials++;
          }
          run(i, 'seed', fromSeed(seedUrl, i, forced));
          started = true;
        }
      } else if (inFlight.size === 0 && !started && Date.now() - lastSource > t.noSourceTimeoutMs) {
        throw new LpmosError(ErrorCode.Unavailable, `blob ${sha.slice(0, 12)}: ${missing()} pieces missing, no peer has them and no seed URL was given`);
      }
      // Waiting for the node's slots is not waiting for holders: no faster polls for it.
      d.poll?.(sha, inFlight.size < t.concurrency && !waitSlot ? 'starved' : 'fed');
      // Wait for a piece to finish, a slot of the node to free, or news (the index updates; busy
      // holders cool down).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => wake(), inFlight.size === 0 ? 100 : 250);
        const unwait = waitSlot?.wait(() => wake());
        wake = () => {
          clearTimeout(timer);
          unwait?.();
          resolve();
        };
      });
    }
    if (firstError && missing() > 0) throw firstError;
  } finally {
    abort.abort();
    // Let requests still in flight settle before the caller may remove the blob.
    while (inFlight.size > 0) await new Promise<void>((resolve) => ((wake = resolve), setTimeout(resolve, 50)));
  }
  await verifyWhole(d.store, m);
  return result;
}

function bytesPresent(m: BlobManifest, have: Uint8Array): number {
  let b = 0;
  for (let i = 0; i < m.pieces.length; i++) if (hasBit(have, i)) b += pieceLength(m, i);
  return b;
}

/** The whole's sha256 from the store's bytes; E_VALIDATION (and the blob removed) when it differs. */
export async function verifyWhole(store: PieceStore, m: BlobManifest): Promise<void> {
  const h = createHash('sha256');
  for await (const c of store.read(m.sha256)) h.update(c as Uint8Array);
  const got = h.digest('hex');
  if (got !== m.sha256) {
    await store.remove(m.sha256);
    throw new LpmosError(ErrorCode.Validation, `blob ${m.sha256.slice(0, 12)}: every piece matched but the whole is ${got.slice(0, 12)}: the manifest's piece hashes are not this blob's`);
  }
}
