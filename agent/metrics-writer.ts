// The agent's swarm metrics into etcd: `swarm/metrics/<machine>` every few seconds when the counters
// changed, and on demand (end of an install, before a reboot). Only this agent writes the key, so a
// plain put: no compare-and-swap. A failed write is logged and retried on the next tick.
import type { Keys } from '../core/keys.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import type { Store } from '../core/store/store.ts';
import type { BlobStats } from '../swarm/blobs/api.ts';
import { metricsRecord, type ProxyCounters, type SwarmMetrics } from '../swarm/metrics-record.ts';

export interface MetricsWriterOptions {
  store: Store;
  keys: Keys;
  machine: string;
  peerId?: string;
  /** The live counters (read at every tick). */
  blobs: () => BlobStats;
  proxy?: () => ProxyCounters;
  /** Default 3000 ms. */
  everyMs?: number;
  logger?: Logger;
}

export class MetricsWriter {
  readonly #o: MetricsWriterOptions;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #last = '';
  #writing: Promise<void> = Promise.resolve();
  /** Writes done (for tests and logs). */
  writes = 0;

  constructor(o: MetricsWriterOptions) {
    this.#o = o;
    this.#log = o.logger ?? silentLogger();
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.flush(), this.#o.everyMs ?? 3000);
    this.#timer.unref();
  }

  /** Writes the counters now if they changed since the last write; resolves when written (or failed). */
  flush(): Promise<void> {
    this.#writing = this.#writing.then(() => this.#write());
    return this.#writing;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  async #write(): Promise<void> {
    const o = this.#o;
    const rec = metricsRecord(o.machine, o.blobs(), o.proxy?.(), o.peerId);
    const text = JSON.stringify(rec);
    if (text === this.#last) return;
    const value: SwarmMetrics = { ...rec, at: new Date().toISOString() };
    try {
      await o.store.put(o.keys.swarmMetrics(o.machine), JSON.stringify(value));
      this.#last = text;
      this.writes++;
    } catch (e) {
      this.#log.warn({ err: (e as Error).message }, 'swarm metrics not written; retrying on the next tick');
    }
  }
}
