// Who holds what, on the receiving side: the latest have of every (peer, blob), from gossip and
// have? answers. Entries older than `ttlMs` are not offered (a holder re-announces periodically);
// a peer that disconnects or is unenrolled is forgotten by `forgetPeer`. Pure data structure.
import type { HaveEntry } from './api.ts';
import { emptyBits, fullBits, hasBit, setBit } from './bitfield.ts';
import type { DecodedBlobHave } from './have.ts';

export class HolderIndex {
  readonly ttlMs: number;
  #byBlob = new Map<string, Map<string, HaveEntry>>();
  #now: () => number;

  constructor(opts: { ttlMs?: number; now?: () => number } = {}) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Records one peer's have message (its blobs, where to reach it, and blobs it dropped). */
  update(peerId: string, where: { addrs: string[]; http?: string | undefined }, blobs: DecodedBlobHave[], gone: string[] = [], heardAt?: number): void {
    const at = heardAt ?? this.#now();
    for (const b of blobs) {
      let peers = this.#byBlob.get(b.sha256);
      if (!peers) this.#byBlob.set(b.sha256, (peers = new Map()));
      const have = b.have === 'all' ? fullBits(b.pieces) : b.have;
      // A tracker's answer may be older than what we heard ourselves: the newer entry stays.
      const old = peers.get(peerId);
      if (old && old.at > at) continue;
      peers.set(peerId, { peerId, sha256: b.sha256, pieces: b.pieces, have, addrs: where.addrs, ...(where.http ? { http: where.http } : {}), ...(b.fetching ? { fetching: b.fetching } : {}), at });
    }
    for (const sha of gone) this.#byBlob.get(sha)?.delete(peerId);
  }

  /**
   * The tracker granted this peer piece i from the seed: its entry shows the claim from now on (an
   * entry is made when the peer has not announced the blob yet). Its next announcement replaces it.
   */
  claim(peerId: string, sha256: string, pieces: number, i: number): void {
    let peers = this.#byBlob.get(sha256);
    if (!peers) this.#byBlob.set(sha256, (peers = new Map()));
    const old = peers.get(peerId);
    const same = old && old.pieces === pieces;
    const fetching = same && old.fetching ? new Uint8Array(old.fetching) : emptyBits(pieces);
    setBit(fetching, i);
    const base = same ? old : { peerId, sha256, pieces, have: emptyBits(pieces), addrs: [] };
    peers.set(peerId, { ...base, fetching, at: this.#now() });
  }

  /** A peer that left (disconnected, unenrolled): none of its blobs is offered any more. */
  forgetPeer(peerId: string): void {
    for (const peers of this.#byBlob.values()) peers.delete(peerId);
  }

  forget(peerId: string, sha256: string): void {
    this.#byBlob.get(sha256)?.delete(peerId);
  }

  /** Fresh holders of a blob, newest first. */
  holders(sha256: string): HaveEntry[] {
    const peers = this.#byBlob.get(sha256);
    if (!peers) return [];
    const fresh = this.#now() - this.ttlMs;
    return [...peers.values()].filter((e) => e.at >= fresh).sort((a, b) => b.at - a.at);
  }

  /** How many fresh holders have piece i (for rarest-first). */
  availability(sha256: string, pieces: number): number[] {
    const counts = new Array<number>(pieces).fill(0);
    for (const e of this.holders(sha256)) {
      if (e.pieces !== pieces) continue;
      for (let i = 0; i < pieces; i++) if (hasBit(e.have, i)) counts[i]!++;
    }
    return counts;
  }
}
