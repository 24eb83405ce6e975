// The fetcher's limits that hold for a whole node, shared by all its downloads (issue 7, bench:swarm
// at 20 Mbit/s): pieces in flight (slots.ts), how fast pieces arrive and so how long a peer piece may
// take (rate-meter.ts), and the pause after the tracker said the seed is busy.
import { DEFAULT_TUNING, type DownloadTuning } from './download.ts';
import { pieceTimeoutMs, RateMeter } from './rate-meter.ts';
import { PieceSlots } from './slots.ts';

export class NodeLimits {
  readonly slots: PieceSlots;
  readonly seedSlots: PieceSlots;
  /** No download of this node asks for a seed piece before `until` (ms). */
  readonly seedPause = { until: 0 };
  readonly #floorMs: number;
  #meter = new RateMeter();
  #inFlightBytes = 0;

  constructor(t: Pick<DownloadTuning, 'nodeSlots' | 'nodeSeedSlots' | 'pieceTimeoutMs'> = DEFAULT_TUNING) {
    this.slots = new PieceSlots(t.nodeSlots);
    this.seedSlots = new PieceSlots(t.nodeSeedSlots);
    this.#floorMs = t.pieceTimeoutMs;
  }

  /** A piece request counted in the bytes in flight and, when it arrives, in the rate. */
  async metered(bytes: number, get: () => Promise<Uint8Array>): Promise<Uint8Array> {
    this.#inFlightBytes += bytes;
    try {
      const b = await get();
      this.#meter.record(b.length, Date.now());
      return b;
    } finally {
      this.#inFlightBytes -= bytes;
    }
  }

  /** The time a peer piece of this many bytes may take now, ms. */
  peerTimeoutMs(bytes: number): number {
    return pieceTimeoutMs(this.#floorMs, this.#inFlightBytes + bytes, this.#meter.rate(Date.now()));
  }
}
