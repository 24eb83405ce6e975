// Wiring for an agent: where to start numbering (the seed's acknowledged seq in etcd
// `progress/<machine>`), a publisher on the site's topic, and a watch on that key that turns
// the seed's writes into acknowledgements. The watch follows from the read's revision, so no
// acknowledgement is missed between the two.
import { setTimeout as sleep } from 'node:timers/promises';
import type { GossipSub } from '@libp2p/gossipsub';
import type { Keys } from '../../core/keys.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import { decode } from '../../core/registry/records.ts';
import type { Store } from '../../core/store/store.ts';
import { progressTopic } from './event.ts';
import { progressAckSchema } from './fold.ts';
import { ProgressPublisher, type PublisherOptions } from './publisher.ts';

/** The seq the seed last folded into etcd for a machine (0 when none) and the revision read at. */
export async function readAck(store: Store, keys: Keys, machine: string, signal?: AbortSignal): Promise<{ seq: number; revision: number }> {
  const { kvs, revision } = await store.list(keys.progressSeq(machine), signal ? { signal } : undefined);
  const kv = kvs.find((k) => k.key === keys.progressSeq(machine));
  return { seq: kv ? decode(progressAckSchema, kv).seq : 0, revision };
}

/** Calls onAck for every acknowledgement written after `revision`, until the signal aborts. */
export async function followAcks(store: Store, keys: Keys, machine: string, fromRevision: number, onAck: (seq: number) => void, signal: AbortSignal, log: Logger = silentLogger()): Promise<void> {
  const key = keys.progressSeq(machine);
  let from = fromRevision;
  while (!signal.aborted) {
    try {
      for await (const ev of store.watch(key, { fromRevision: from, signal })) {
        from = ev.modRevision + 1;
        if (ev.key !== key || ev.value === undefined) continue;
        onAck(decode(progressAckSchema, { key, value: ev.value, createRevision: 0, modRevision: ev.modRevision, version: 0 }).seq);
      }
      // A watch ends without an error only when we stop or the store was closed: nothing to follow.
      return;
    } catch (e) {
      if (signal.aborted) return;
      log.warn({ err: (e as Error).message }, 'progress acknowledgement watch failed; reading again');
      await sleep(1000, undefined, { signal }).catch(() => undefined);
      try {
        const r = await readAck(store, keys, machine, signal);
        onAck(r.seq);
        from = r.revision + 1;
      } catch {
        // next round retries
      }
    }
  }
}

export interface ReporterOptions extends Omit<PublisherOptions, 'topic' | 'firstSeq' | 'pubsub'> {
  pubsub: Pick<GossipSub, 'publish'>;
  store: Store;
  keys: Keys;
  site: string;
}

export class ProgressReporter {
  readonly publisher: ProgressPublisher;
  readonly #stop = new AbortController();
  readonly #loop: Promise<void>;

  private constructor(publisher: ProgressPublisher, loop: (signal: AbortSignal) => Promise<void>) {
    this.publisher = publisher;
    this.#loop = loop(this.#stop.signal);
  }

  static async start(opts: ReporterOptions, signal?: AbortSignal): Promise<ProgressReporter> {
    const { store, keys, machine } = opts;
    const ack = await readAck(store, keys, machine, signal);
    const publisher = new ProgressPublisher({ ...opts, topic: progressTopic(opts.site), firstSeq: ack.seq + 1 });
    publisher.start();
    return new ProgressReporter(publisher, (s) => followAcks(store, keys, machine, ack.revision + 1, (seq) => publisher.ack(seq), s, opts.logger));
  }

  report(...args: Parameters<ProgressPublisher['report']>): void {
    this.publisher.report(...args);
  }

  async stop(): Promise<void> {
    this.publisher.stop();
    this.#stop.abort();
    await this.#loop;
  }
}
