// How fast a node receives pieces now, and from that how long a peer piece may take before it
// counts as slow (issue 7). A fixed 5 s limit was right at 100 Mbit/s; at 20 Mbit/s a node with
// 8 pieces in flight gets each one in ≈ 3.4 s when every holder is idle, and in more than 5 s as
// soon as holders share their uplinks — then every piece "failed", its holder was benched and the
// piece went to the seed again (bench:swarm N = 32, 20 Mbit/s: seed egress 2.55× the set). A piece
// is slow when it takes several times what the bytes in flight need at the rate we receive. Pure
// (the clock is passed in).

export class RateMeter {
  readonly windowMs: number;
  /** Completed pieces in the window: [when, bytes]. */
  #events: [number, number][] = [];
  #bytes = 0;
  #since: number | undefined;

  constructor(opts: { windowMs?: number } = {}) {
    this.windowMs = opts.windowMs ?? 10_000;
  }

  record(bytes: number, now: number): void {
    this.#since ??= now;
    this.#events.push([now, bytes]);
    this.#bytes += bytes;
    this.#trim(now);
  }

  /** Bytes per second over the window (or since the first piece, when younger); undefined before 2 pieces. */
  rate(now: number): number | undefined {
    this.#trim(now);
    if (this.#events.length < 2 || this.#since === undefined) return undefined;
    const span = Math.max(1000, Math.min(this.windowMs, now - this.#since));
    return (this.#bytes * 1000) / span;
  }

  #trim(now: number): void {
    while (this.#events.length > 0 && now - this.#events[0]![0] > this.windowMs) this.#bytes -= this.#events.shift()![1];
  }
}

/**
 * The time a peer piece may take, ms: `slowFactor` × what the bytes in flight (all downloads of the
 * node) need at the measured rate, never under `baseMs` (and `baseMs` while nothing is measured).
 */
export function pieceTimeoutMs(baseMs: number, inFlightBytes: number, rate: number | undefined, slowFactor = 3, maxMs = 60_000): number {
  if (rate === undefined || rate <= 0) return baseMs;
  return Math.round(Math.min(maxMs, Math.max(baseMs, (slowFactor * inFlightBytes * 1000) / rate)));
}
