// The seed as tracker (issue 7, bench:swarm N = 32): agents push their have messages to the seed
// over `/lpmos/blob/1.0.0` (PUSH) instead of flooding them to every agent over gossip, and a fetcher
// asks the seed for a few holders of the blobs it fetches (HOLDERS?). Each agent's announcement and
// lookup work no longer grows with N (gossip made every agent receive and verify every other's
// announcements: N = 32, 4268 published, 127 068 received); the seed's grows with N, one small
// message per update, no signature (noise proved the pusher). Pure: the answer's codec and which
// holders an answer names.
import { z } from 'zod';
import type { HaveEntry } from './api.ts';
import { countBits, hasBit } from './bitfield.ts';
import { blobHaveSchema, decodeBlobs, encodeBits, MAX_HAVE_BLOBS, type DecodedBlobHave } from './have.ts';
import { MAX_PEER_NUMBER, type NamedPeer, type PeerDirectory, type PeerNumbers } from './peer-table.ts';

/** Holders an answer names per blob besides the claimers (pieces being fetched from the seed). */
export const HOLDERS_PER_BLOB = 6;
/** Claimers an answer names per blob at most. */
export const CLAIMERS_PER_BLOB = 8;
export const MAX_HOLDERS_BYTES = 1024 * 1024;

const MAX_PEERS = 4096;

const peerSchema = z.strictObject({
  peer: z.string().min(1).max(128),
  addrs: z.array(z.string().max(256)).max(16),
  http: z.string().url().max(256).optional(),
});

/** One holder of a blob: `p` indexes the answer's peers (v 2) or is the peer's session number (v 3); `age`: ms since the tracker heard it (claims count only while fresh). */
const holdingSchema = (maxP: number) =>
  z.strictObject({
    p: z.number().int().min(0).max(maxP),
    have: blobHaveSchema.shape.have,
    fetching: blobHaveSchema.shape.fetching,
    age: z.number().int().min(0).max(1e9),
  });

const blobHoldersSchema = (maxP: number) => z.strictObject({ sha256: blobHaveSchema.shape.sha256, pieces: blobHaveSchema.shape.pieces, holders: z.array(holdingSchema(maxP)).max(MAX_PEERS) });

/**
 * The HOLDERS? answer, and the body of a refused CLAIM: the holder or claimer of that piece, or —
 * when the seed has as many granted pieces in flight as it allows — no peers and `retryMs`. Each
 * peer once (v 2: v 1 repeated a peer per blob and a blob per peer — bench:swarm N = 32 at 20 Mbit/s
 * sent 30 MiB of answers, a third of the set, over the seed's link that the bound is about).
 * v 3 (tracker sessions, peer-table.ts): `peers` are only those new to the session, each with its
 * number `i`; holders refer to the number; `reset`: forget the numbers given before this answer.
 */
export const holdersAnswerSchema = z.strictObject({
  v: z.literal(2),
  peers: z.array(peerSchema).max(MAX_PEERS),
  blobs: z.array(blobHoldersSchema(MAX_PEERS - 1)).max(MAX_HAVE_BLOBS),
  retryMs: z.number().int().min(0).max(60_000).optional(),
});
export const holdersAnswerV3Schema = z.strictObject({
  v: z.literal(3),
  reset: z.literal(true).optional(),
  peers: z.array(peerSchema.extend({ i: z.number().int().min(0).max(MAX_PEER_NUMBER) })).max(MAX_PEERS),
  blobs: z.array(blobHoldersSchema(MAX_PEER_NUMBER)).max(MAX_HAVE_BLOBS),
  retryMs: z.number().int().min(0).max(60_000).optional(),
});
export type HoldersAnswer = z.infer<typeof holdersAnswerSchema>;
export type HoldersAnswerV3 = z.infer<typeof holdersAnswerV3Schema>;

/** A holders answer before it is encoded (for a session, at the moment it is written): entries to name, or "busy". */
export type HoldersReply = { entries: HaveEntry[]; now: number } | { retryMs: number };

/** The reply's bytes: v 3 against a session's peer numbers, else v 2. */
export function encodeReply(r: HoldersReply, numbers?: PeerNumbers): Uint8Array {
  return 'retryMs' in r ? encodeBusy(r.retryMs, numbers) : encodeHolders(r.entries, r.now, numbers);
}

export interface TrackedHolder {
  peerId: string;
  addrs: string[];
  http?: string;
  /** Each blob with the time the tracker heard it, on the receiver's clock. */
  blobs: (DecodedBlobHave & { at: number })[];
}

/**
 * Which entries to name for one blob: every fresh claimer (up to CLAIMERS_PER_BLOB: a fetcher must
 * not take a claimed piece from the seed), then up to HOLDERS_PER_BLOB others at random (spreads
 * the load over holders; a fetcher polls again while it downloads).
 */
export function pickHolders(entries: HaveEntry[], opts: { now: number; claimTtlMs: number; exclude?: string; random?: () => number }): HaveEntry[] {
  const rnd = opts.random ?? Math.random;
  const mine = entries.filter((e) => e.peerId !== opts.exclude);
  const claims = mine.filter((e) => e.fetching && opts.now - e.at < opts.claimTtlMs && countBits(e.fetching, e.pieces) > 0).slice(0, CLAIMERS_PER_BLOB);
  const rest = mine.filter((e) => !claims.includes(e));
  for (let i = rest.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [rest[i], rest[j]] = [rest[j]!, rest[i]!];
  }
  return [...claims, ...rest.slice(0, HOLDERS_PER_BLOB)];
}

/** The answer for these entries (any blobs), grouped by holder; with a session's `numbers`, v 3 (peers new to it only). */
export function encodeHolders(entries: HaveEntry[], now: number, numbers?: PeerNumbers): Uint8Array {
  numbers?.reserve(entries.length);
  const peerIndex = new Map<string, number>();
  const peers: HoldersAnswerV3['peers'] = [];
  const blobs = new Map<string, HoldersAnswer['blobs'][number]>();
  let named = 0;
  for (const e of entries) {
    let p = peerIndex.get(e.peerId);
    if (p === undefined) {
      if (named >= MAX_PEERS) continue;
      named++;
      const peer: NamedPeer = { peerId: e.peerId, addrs: dialAddrs(e.addrs, e.peerId), ...(e.http ? { http: e.http } : {}) };
      const wire = { peer: peer.peerId, addrs: peer.addrs, ...(peer.http ? { http: peer.http } : {}) };
      if (numbers) {
        const r = numbers.number(peer);
        p = r.n;
        if (r.isNew) peers.push({ i: p, ...wire });
      } else {
        p = peers.length;
        peers.push({ i: p, ...wire });
      }
      peerIndex.set(e.peerId, p);
    }
    let b = blobs.get(e.sha256);
    if (!b) {
      if (blobs.size >= MAX_HAVE_BLOBS) continue;
      blobs.set(e.sha256, (b = { sha256: e.sha256, pieces: e.pieces, holders: [] }));
    }
    if (b.pieces !== e.pieces) continue;
    const complete = countBits(e.have, e.pieces) === e.pieces;
    b.holders.push({
      p,
      have: encodeBits(e.have, e.pieces, complete),
      ...(e.fetching ? { fetching: Buffer.from(e.fetching).toString('base64') } : {}),
      age: Math.max(0, Math.round(now - e.at)),
    });
  }
  const answer: HoldersAnswer | HoldersAnswerV3 = numbers
    ? { v: 3, ...(numbers.takeReset() ? { reset: true as const } : {}), peers, blobs: [...blobs.values()] }
    : { v: 2, peers: peers.map(({ i: _, ...rest }) => rest), blobs: [...blobs.values()] };
  const bytes = Buffer.from(JSON.stringify(answer), 'utf8');
  if (bytes.length > MAX_HOLDERS_BYTES) throw new RangeError(`holders answer of ${bytes.length} bytes exceeds ${MAX_HOLDERS_BYTES}`);
  return bytes;
}

/**
 * One address to dial a holder by, without its `/p2p/<id>` (the answer names the peer): an agent
 * listens on one, and answers are the seed's egress too (bench:swarm N = 32 at 20 Mbit/s: 36 MiB of
 * answers, 0.4× the set, with two addresses each ending in the peer id again).
 */
export function dialAddrs(addrs: string[], peerId: string): string[] {
  const a = addrs.find((x) => !x.startsWith('/ip4/127.')) ?? addrs[0];
  return a === undefined ? [] : [a.endsWith(`/p2p/${peerId}`) ? a.slice(0, -`/p2p/${peerId}`.length) : a];
}

export type HoldersDecode = { ok: true; holders: TrackedHolder[]; retryMs?: number } | { ok: false; detail: string };

/** A refused CLAIM's body when the seed is busy: ask again after `retryMs`. */
export function encodeBusy(retryMs: number, numbers?: PeerNumbers): Uint8Array {
  const answer: HoldersAnswer | HoldersAnswerV3 = numbers ? { v: 3, ...(numbers.takeReset() ? { reset: true as const } : {}), peers: [], blobs: [], retryMs } : { v: 2, peers: [], blobs: [], retryMs };
  return Buffer.from(JSON.stringify(answer), 'utf8');
}

/**
 * Reads an answer; `now` is the receiver's clock (ages become times on it). A v 3 answer needs the
 * session's `directory`, which it updates (even when it is then refused: the session must end).
 */
export function decodeHolders(bytes: Uint8Array, now: number, directory?: PeerDirectory): HoldersDecode {
  if (bytes.length > MAX_HOLDERS_BYTES) return { ok: false, detail: `oversize (${bytes.length} bytes)` };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return { ok: false, detail: 'not JSON' };
  }
  const v3 = typeof json === 'object' && json !== null && (json as { v?: unknown }).v === 3;
  if (v3 && !directory) return { ok: false, detail: 'a v 3 answer outside a tracker session' };
  const r = v3 ? holdersAnswerV3Schema.safeParse(json) : holdersAnswerSchema.safeParse(json);
  if (!r.success) return { ok: false, detail: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ').slice(0, 300) };
  const peerOf = new Map<number, NamedPeer>();
  if (r.data.v === 3) {
    if (r.data.reset) directory!.clear();
    for (const p of r.data.peers) directory!.set(p.i, { peerId: p.peer, addrs: p.addrs, ...(p.http ? { http: p.http } : {}) });
  } else r.data.peers.forEach((p, i) => peerOf.set(i, { peerId: p.peer, addrs: p.addrs, ...(p.http ? { http: p.http } : {}) }));
  const holders = new Map<number, TrackedHolder>();
  for (const b of r.data.blobs) {
    for (const h of b.holders) {
      let holder = holders.get(h.p);
      if (!holder) {
        const peer = r.data.v === 3 ? directory!.get(h.p) : peerOf.get(h.p);
        if (!peer) return { ok: false, detail: `blob ${b.sha256.slice(0, 12)}: holder ${h.p} is not a peer ${r.data.v === 3 ? 'this session named' : `of the ${peerOf.size} named`}` };
        holders.set(h.p, (holder = { ...peer, addrs: [...peer.addrs], blobs: [] }));
      }
      const d = decodeBlobs([{ sha256: b.sha256, pieces: b.pieces, have: h.have, ...(h.fetching !== undefined ? { fetching: h.fetching } : {}) }]);
      if (typeof d === 'string') return { ok: false, detail: d };
      holder.blobs.push({ ...d[0]!, at: now - h.age });
    }
  }
  return { ok: true, holders: [...holders.values()], ...(r.data.retryMs !== undefined ? { retryMs: r.data.retryMs } : {}) };
}

/**
 * The tracker's arbitration of seed pieces: `peer` may take piece i from the seed unless another
 * fresh entry holds it or claims it (a claim counts while its holder's entry is younger than
 * claimTtlMs). Fetchers learn of claims only when they ask the tracker, so without this two that
 * start a blob together both take it from the seed (bench:swarm N = 8: seed egress 1.10× → 1.36×).
 * The seed answers claims one at a time: the first asker wins.
 */
export function mayTakeFromSeed(entries: HaveEntry[], opts: { peer: string; index: number; now: number; claimTtlMs: number }): boolean {
  return holderOf(entries, opts) === undefined;
}

/** The entry (not `peer`'s) that holds piece i, else one with a fresh claim on it. */
export function holderOf(entries: HaveEntry[], opts: { peer: string; index: number; now: number; claimTtlMs: number }): HaveEntry | undefined {
  let claimer: HaveEntry | undefined;
  for (const e of entries) {
    if (e.peerId === opts.peer || opts.index >= e.pieces) continue;
    if (hasBit(e.have, opts.index)) return e;
    if (!claimer && e.fetching && hasBit(e.fetching, opts.index) && opts.now - e.at < opts.claimTtlMs) claimer = e;
  }
  return claimer;
}

/**
 * The seed pieces the tracker granted, so a grant holds until its agent has the piece, gives it up,
 * or `ttlMs` (the fetcher's seed timeout) passes — not only while its announcements are fresh (a
 * piece from a busy seed can take longer than a claim's 5 s), and not undone by a push the agent
 * composed before it heard of the grant (those arrive within `releaseAfterMs`).
 */
export class SeedGrants {
  #bySha = new Map<string, Map<number, { peer: string; at: number }>>();
  #ttlMs: number;
  #releaseAfterMs: number;
  #now: () => number;
  #onDelivered: ((sha256: string, i: number) => void) | undefined;

  /** `onDelivered`: a grantee's push shows the piece (the seed's bytes arrived), once per grant. */
  constructor(opts: { ttlMs?: number; releaseAfterMs?: number; now?: () => number; onDelivered?: (sha256: string, i: number) => void } = {}) {
    this.#ttlMs = opts.ttlMs ?? 30_000;
    this.#releaseAfterMs = opts.releaseAfterMs ?? 1000;
    this.#now = opts.now ?? Date.now;
    this.#onDelivered = opts.onDelivered;
  }

  /** Whether another peer's grant of piece i stands; `entries` are the tracker's fresh entries of the blob. */
  heldByOther(sha256: string, i: number, peer: string, entries: HaveEntry[]): boolean {
    const g = this.grantee(sha256, i, entries);
    return g !== undefined && g !== peer;
  }

  /** The peer whose grant of piece i stands (an ended grant is forgotten here). */
  grantee(sha256: string, i: number, entries: HaveEntry[]): string | undefined {
    const m = this.#bySha.get(sha256);
    const g = m?.get(i);
    if (!m || !g) return undefined;
    const e = entries.find((x) => x.peerId === g.peer);
    const delivered = e !== undefined && hasBit(e.have, i);
    const over = delivered || this.#now() - g.at >= this.#ttlMs || !e || (e.at - g.at >= this.#releaseAfterMs && !(e.fetching && hasBit(e.fetching, i)));
    if (!over) return g.peer;
    if (delivered) this.#onDelivered?.(sha256, i);
    m.delete(i);
    if (m.size === 0) this.#bySha.delete(sha256);
    return undefined;
  }

  /** Grants that stand now (ended ones are forgotten); `entriesOf` gives the tracker's entries of a blob. */
  outstanding(entriesOf: (sha256: string) => HaveEntry[]): number {
    let n = 0;
    for (const [sha, m] of [...this.#bySha]) {
      const entries = entriesOf(sha);
      for (const i of [...m.keys()]) if (this.grantee(sha, i, entries) !== undefined) n++;
    }
    return n;
  }

  grant(sha256: string, i: number, peer: string): void {
    let m = this.#bySha.get(sha256);
    if (!m) this.#bySha.set(sha256, (m = new Map()));
    m.set(i, { peer, at: this.#now() });
  }

  /** Grants of a peer that left end now. */
  forgetPeer(peer: string): void {
    for (const [sha, m] of this.#bySha) {
      for (const [i, g] of m) if (g.peer === peer) m.delete(i);
      if (m.size === 0) this.#bySha.delete(sha);
    }
  }
}
