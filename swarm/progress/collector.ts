// The seed side of progress (issue 6): subscribes to the site's topic, refuses what is malformed,
// oversize or not from the machine's enrolled peer id (counted per reason), applies each machine's
// events once and in seq order, and folds them into etcd at most once per machine per
// `coalesceMs`: the status with updateStatus (compare-and-swap, since the agent writes status
// too), then — when the batch finishes the install (`complete`) — the spec from `install` to
// `localboot` (localboot.ts), then the history entries and the acknowledged seq in one transaction.
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import type { Keys } from '../../core/keys.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import { decode, encode } from '../../core/registry/records.ts';
import { updateStatus } from '../../core/registry/status.ts';
import type { Operation, Store } from '../../core/store/store.ts';
import { decodeEvent, progressTopic, type ProgressEvent } from './event.ts';
import { installFinished, progressAckSchema, shouldLog, statusAfter, type LogEntry } from './fold.ts';
import { installedToLocalboot } from './localboot.ts';
import { Sequencer } from './sequencer.ts';

export interface CollectorOptions {
  pubsub: GossipSub;
  store: Store;
  keys: Keys;
  site: string;
  /** The enrolled machine of a peer id (the allow-list). */
  machineOf: (peerId: string) => string | undefined;
  coalesceMs?: number;
  gapTimeoutMs?: number;
  /** History entries kept per machine. */
  logLimit?: number;
  logger?: Logger;
  now?: () => number;
}

export interface CollectorStats {
  received: number;
  accepted: number;
  applied: number;
  duplicate: number;
  malformed: number;
  oversize: number;
  forged: number;
  unsigned: number;
  skipped: number;
  writes: number;
  writeErrors: number;
  /** Specs set from `install` to `localboot` after a `complete`. */
  localboot: number;
}

/** etcd's default --max-txn-ops is 128: entries, evictions and the ack must fit one transaction. */
const MAX_ENTRIES_PER_TXN = 60;

interface MachineState {
  seq?: Sequencer<LogEntry>;
  loading?: Promise<void>;
  early: LogEntry[];
  batch: LogEntry[];
  ackRevision: number;
  logged: number[];
  lastLogged?: ProgressEvent;
  lastFlush: number;
  timer?: NodeJS.Timeout;
  writing?: Promise<void>;
}

export class ProgressCollector {
  readonly topic: string;
  readonly stats: CollectorStats = { received: 0, accepted: 0, applied: 0, duplicate: 0, malformed: 0, oversize: 0, forged: 0, unsigned: 0, skipped: 0, writes: 0, writeErrors: 0, localboot: 0 };
  readonly #o: Required<Omit<CollectorOptions, 'logger'>> & { log: Logger };
  readonly #machines = new Map<string, MachineState>();
  #gapTimer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(opts: CollectorOptions) {
    this.topic = progressTopic(opts.site);
    this.#o = { coalesceMs: 250, gapTimeoutMs: 3000, logLimit: 500, now: Date.now, ...opts, log: opts.logger ?? silentLogger() };
  }

  readonly #validate = (_from: PeerId, msg: Message): TopicValidatorResult => {
    this.stats.received++;
    if (msg.type !== 'signed') {
      this.stats.unsigned++;
      return TopicValidatorResult.Reject;
    }
    const r = decodeEvent(msg.data);
    if (!r.ok) {
      this.stats[r.reason]++;
      this.#o.log.warn({ from: msg.from.toString(), reason: r.reason, detail: r.detail }, 'progress message dropped');
      return TopicValidatorResult.Reject;
    }
    const machine = this.#o.machineOf(msg.from.toString());
    if (machine !== r.event.machine) {
      this.stats.forged++;
      this.#o.log.warn({ from: msg.from.toString(), claims: r.event.machine, enrolledFor: machine ?? null }, 'progress message from a peer not enrolled for that machine dropped');
      return TopicValidatorResult.Reject;
    }
    this.stats.accepted++;
    return TopicValidatorResult.Accept;
  };

  readonly #onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail;
    if (msg.topic !== this.topic || msg.type !== 'signed') return;
    const r = decodeEvent(msg.data);
    if (r.ok) this.#receive({ ...r.event, peerId: msg.from.toString() });
  };

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#o.pubsub.topicValidators.set(this.topic, this.#validate);
    this.#o.pubsub.addEventListener('message', this.#onMessage);
    this.#o.pubsub.subscribe(this.topic);
    this.#gapTimer = setInterval(() => this.#expireGaps(), Math.max(50, this.#o.gapTimeoutMs / 4));
    this.#gapTimer.unref();
  }

  /** Unsubscribes and writes what is still buffered. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#gapTimer);
    this.#o.pubsub.unsubscribe(this.topic);
    this.#o.pubsub.removeEventListener('message', this.#onMessage);
    this.#o.pubsub.topicValidators.delete(this.topic);
    await this.flush();
  }

  /** Writes every machine's buffered events now. */
  async flush(): Promise<void> {
    await Promise.all([...this.#machines.values()].map((m) => m.loading));
    await Promise.all([...this.#machines.keys()].map((id) => this.#flush(id)));
  }

  /** Highest seq applied for a machine (in memory; etcd follows within coalesceMs). */
  lastSeq(machine: string): number | undefined {
    return this.#machines.get(machine)?.seq?.lastSeq;
  }

  #receive(event: LogEntry): void {
    let m = this.#machines.get(event.machine);
    if (!m) {
      m = { early: [], batch: [], ackRevision: 0, logged: [], lastFlush: 0 };
      this.#machines.set(event.machine, m);
    }
    if (!m.seq) {
      // Bounded while etcd is slow to answer: what is dropped here is resent by the agent.
      if (m.early.length < 1024) m.early.push(event);
      m.loading ??= this.#load(event.machine, m);
      return;
    }
    this.#offer(event.machine, m, event);
  }

  #offer(id: string, m: MachineState, event: LogEntry): void {
    if (!m.seq) return;
    const r = m.seq.offer(event, this.#o.now());
    if (r.duplicate) this.stats.duplicate++;
    this.#take(id, m, r.apply);
  }

  #take(id: string, m: MachineState, events: LogEntry[]): void {
    if (events.length === 0) return;
    this.stats.applied += events.length;
    m.batch.push(...events);
    this.#schedule(id, m);
  }

  #schedule(id: string, m: MachineState, delay?: number): void {
    if (m.timer || !this.#running) return;
    const wait = delay ?? Math.max(0, m.lastFlush + this.#o.coalesceMs - this.#o.now());
    m.timer = setTimeout(() => {
      m.timer = undefined;
      void this.#flush(id);
    }, wait);
  }

  #expireGaps(): void {
    for (const [id, m] of this.#machines) {
      if (!m.seq || m.seq.pending === 0) continue;
      const before = m.seq.skipped;
      const released = m.seq.expire(this.#o.now());
      this.stats.skipped += m.seq.skipped - before;
      if (released.length > 0) {
        this.#o.log.warn({ machine: id, skippedTo: released[0]?.seq }, 'progress gap timed out; skipping lost events');
        this.#take(id, m, released);
      }
    }
  }

  /** Where this machine's seq stands in etcd, and which history entries exist. */
  async #load(id: string, m: MachineState): Promise<void> {
    for (;;) {
      try {
        const ack = await this.#o.store.get(this.#o.keys.progressSeq(id));
        const { kvs } = await this.#o.store.list(this.#o.keys.machineLogs(id), { keysOnly: true });
        const prefix = this.#o.keys.machineLogs(id);
        m.logged = kvs.map((kv) => Number(kv.key.slice(prefix.length))).filter(Number.isSafeInteger);
        m.ackRevision = ack?.modRevision ?? 0;
        let seq = 0;
        try {
          seq = ack ? decode(progressAckSchema, ack).seq : 0;
        } catch (e) {
          this.#o.log.warn({ machine: id, err: (e as Error).message }, 'unreadable progress acknowledgement; counting from 0');
        }
        m.seq = new Sequencer(seq, { gapTimeoutMs: this.#o.gapTimeoutMs, maxPending: 256 });
        break;
      } catch (e) {
        this.#o.log.warn({ machine: id, err: (e as Error).message }, 'cannot read progress state; retrying');
        this.stats.writeErrors++;
        await new Promise((r) => setTimeout(r, 1000));
        if (!this.#running) {
          m.loading = undefined;
          return;
        }
      }
    }
    const early = m.early.splice(0);
    for (const e of early) this.#offer(id, m, e);
  }

  async #flush(id: string): Promise<void> {
    const m = this.#machines.get(id);
    if (!m) return;
    while (m.writing) await m.writing;
    if (m.batch.length === 0) return;
    if (m.timer) {
      clearTimeout(m.timer);
      m.timer = undefined;
    }
    m.lastFlush = this.#o.now();
    m.writing = this.#write(id, m)
      .catch((e: unknown) => {
        this.stats.writeErrors++;
        this.#o.log.warn({ machine: id, err: (e as Error).message }, 'progress write failed; retrying');
        this.#schedule(id, m, 1000);
      })
      .finally(() => {
        m.writing = undefined;
      });
    await m.writing;
    if (m.batch.length > 0) this.#schedule(id, m);
  }

  /**
   * Writes what is batched now: the status for the newest event first, then (install finished)
   * the spec, then the history and the ack in chunks (each chunk leaves the batch once written).
   * In this order a crash in between leaves the ack behind, so the agent resends and nothing is
   * lost; the reverse could lose the status or the spec change of an acknowledged event.
   */
  async #write(id: string, m: MachineState): Promise<void> {
    const { store, keys } = this.#o;
    let count = m.batch.length;
    const newest = m.batch[count - 1];
    if (!newest) return;
    await updateStatus(store, keys, id, (current) => statusAfter(current, newest), () => new Date(this.#o.now()));
    this.stats.writes++;
    if (installFinished(m.batch.slice(0, count))) {
      if ((await installedToLocalboot(store, keys, id, () => new Date(this.#o.now()))) === 'localboot') {
        this.stats.localboot++;
        this.#o.log.info({ machine: id }, 'install complete: spec set to localboot');
      }
    }
    while (count > 0) {
      const chunk = m.batch.slice(0, Math.min(count, MAX_ENTRIES_PER_TXN));
      const puts = new Map<number, LogEntry>();
      let lastLogged = m.lastLogged;
      const logged = [...m.logged];
      for (const entry of chunk) {
        if (!shouldLog(lastLogged, entry)) continue;
        puts.set(entry.seq, entry);
        logged.push(entry.seq);
        lastLogged = entry;
      }
      // Beyond the bound the oldest go: stored ones are deleted, new ones are not written at all
      // (etcd refuses a transaction that puts and deletes one key).
      const evict = logged.length > this.#o.logLimit ? logged.splice(0, logged.length - this.#o.logLimit) : [];
      const ops: Operation[] = [];
      for (const seq of evict) {
        if (!puts.delete(seq)) ops.push({ type: 'delete', key: keys.machineLogEntry(id, seq) });
      }
      for (const [seq, entry] of puts) ops.push({ type: 'put', key: keys.machineLogEntry(id, seq), value: encode(entry) });
      const last = chunk[chunk.length - 1];
      if (!last) break;
      const ackOp = (seq: number): Operation => ({ type: 'put', key: keys.progressSeq(id), value: encode({ seq, peerId: last.peerId, at: new Date(this.#o.now()).toISOString() }) });
      let r = await store.txn([{ key: keys.progressSeq(id), modRevision: m.ackRevision }], [...ops, ackOp(last.seq)]);
      if (!r.succeeded) {
        // Someone else wrote the ack (another seed collecting the same site): never move it back,
        // or agents would resend what was already folded in.
        const kv = await store.get(keys.progressSeq(id));
        let theirs = 0;
        try {
          theirs = kv ? decode(progressAckSchema, kv).seq : 0;
        } catch {
          // unreadable: ours replaces it
        }
        m.ackRevision = kv?.modRevision ?? 0;
        r = await store.txn([{ key: keys.progressSeq(id), modRevision: m.ackRevision }], [...ops, ackOp(Math.max(theirs, last.seq))]);
        if (!r.succeeded) throw new Error(`progress of machine "${id}" changed twice while writing`);
      }
      m.ackRevision = r.revision;
      m.logged = logged;
      m.lastLogged = lastLogged;
      m.batch.splice(0, chunk.length);
      count -= chunk.length;
      this.stats.writes++;
    }
  }
}
