// The peer table of one tracker session (`/lpmos/tracker/1.1.0`, holders answers v 3): the seed names
// a peer — its id, dial address and HTTP URL, ~140 bytes of JSON — the first time an answer on that
// session mentions it, with a number, and by the number alone afterwards. bench:swarm N = 32 at
// 10 Mbit/s: ~4 500 answers, most of each a peer the agent had been told of already; the seed's bytes
// besides pieces 13.5–15.1 MiB of its 62–66 MiB egress, over the link the bound is about (8.2–9.0 MiB
// with numbers; a repeat answer naming 14 holders 540 bytes instead of 2 597). Both ends keep
// their table for as long as the stream lives; a broken stream ends both, and the next one starts
// empty. Answers are encoded in the order they are written (p2p-server.ts) and decoded in the order
// they are read (tracker-session.ts), also those whose requester gave up, so the two tables agree.

/** A peer as an answer names it. */
export interface NamedPeer {
  peerId: string;
  addrs: string[];
  http?: string;
}

/** Entries a session's table holds before the seed starts it over (`reset` in the next answer). */
export const MAX_SESSION_PEERS = 1024;
/** The largest number a v 3 answer may give a peer (MAX_SESSION_PEERS + one answer's peers, with room). */
export const MAX_PEER_NUMBER = 65_535;

const keyOf = (p: NamedPeer): string => `${p.peerId} ${p.addrs.join(' ')} ${p.http ?? ''}`;

/** The seed's side: the numbers this session's requester knows. */
export class PeerNumbers {
  #byKey = new Map<string, number>();
  #next = 0;
  #reset = false;

  /**
   * Before an answer that may name up to `count` new peers: a table that would outgrow
   * MAX_SESSION_PEERS starts over, and the answer says so.
   */
  reserve(count: number): void {
    if (this.#byKey.size + count <= MAX_SESSION_PEERS) return;
    this.#byKey.clear();
    this.#next = 0;
    this.#reset = true;
  }

  /** The peer's number, and whether this answer must name it (new, or its address changed: a new number). */
  number(p: NamedPeer): { n: number; isNew: boolean } {
    const k = keyOf(p);
    const n = this.#byKey.get(k);
    if (n !== undefined) return { n, isNew: false };
    const fresh = this.#next++;
    this.#byKey.set(k, fresh);
    return { n: fresh, isNew: true };
  }

  /** Whether the answer being encoded must tell the requester to clear its table (once per start-over). */
  takeReset(): boolean {
    const r = this.#reset;
    this.#reset = false;
    return r;
  }

  get size(): number {
    return this.#byKey.size;
  }
}

/** The requester's side: what each number stands for. */
export class PeerDirectory {
  #byNumber = new Map<number, NamedPeer>();

  clear(): void {
    this.#byNumber.clear();
  }

  set(n: number, p: NamedPeer): void {
    this.#byNumber.set(n, p);
  }

  get(n: number): NamedPeer | undefined {
    return this.#byNumber.get(n);
  }

  get size(): number {
    return this.#byNumber.size;
  }
}
