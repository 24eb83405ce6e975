// The in-memory Store: a client of a MemoryCluster. Used by unit tests and by anything that
// needs the store's semantics without an etcd process. It passes the same contract suite as
// the etcd store (test/contract/store-contract.ts).
import { LpmosError } from '../core/errors.ts';
import type {
  CallOptions, Compare, KeyValue, Lease, ListResult, Operation, Store, TxnResult, WatchEvent, WatchOptions,
} from '../core/store/store.ts';
import { EventQueue } from './event-queue.ts';
import { MemoryCluster } from './memory-cluster.ts';

export { MemoryCluster };

class MemoryLease implements Lease {
  readonly id: string;
  readonly ttlSeconds: number;
  readonly #lost = new AbortController();
  readonly #cluster: MemoryCluster;
  readonly #timer: NodeJS.Timeout;
  readonly #unlisten: () => void;
  #stopped = false;

  constructor(cluster: MemoryCluster, id: string, ttlSeconds: number) {
    this.#cluster = cluster;
    this.id = id;
    this.ttlSeconds = ttlSeconds;
    this.#unlisten = cluster.onLeaseEnd(id, () => this.#lose());
    // Renew at a third of the TTL, as etcd clients do, so one late tick does not lose it.
    this.#timer = setInterval(() => {
      if (!cluster.keepAlive(id)) this.#lose();
    }, (ttlSeconds * 1000) / 3);
    this.#timer.unref();
  }

  get lost(): AbortSignal {
    return this.#lost.signal;
  }

  #lose(): void {
    if (this.#stopped) return;
    this.stop();
    this.#lost.abort(new LpmosError('E_NOT_FOUND', `lease ${this.id} expired`));
  }

  /** Stops keeping the lease alive; it ends by itself after its TTL. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#unlisten();
  }

  async revoke(): Promise<void> {
    this.stop();
    this.#cluster.revokeLease(this.id, false);
  }
}

export class MemoryStore implements Store {
  readonly cluster: MemoryCluster;
  #closed = false;
  readonly #leases = new Set<MemoryLease>();
  readonly #watches = new Set<EventQueue<WatchEvent>>();

  /** A new client; pass a cluster to share state with other clients. */
  constructor(cluster: MemoryCluster = new MemoryCluster()) {
    this.cluster = cluster;
  }

  #check(opts?: CallOptions): void {
    opts?.signal?.throwIfAborted();
    if (this.#closed) throw new LpmosError('E_UNAVAILABLE', 'store is closed');
  }

  async get(key: string, opts?: CallOptions): Promise<KeyValue | undefined> {
    this.#check(opts);
    return this.cluster.get(key);
  }

  async list(prefix: string, opts?: CallOptions & { keysOnly?: boolean }): Promise<ListResult> {
    this.#check(opts);
    return { kvs: this.cluster.list(prefix, opts?.keysOnly === true), revision: this.cluster.revision };
  }

  async put(key: string, value: string, opts?: CallOptions & { lease?: string }): Promise<number> {
    this.#check(opts);
    const op: Operation = opts?.lease === undefined ? { type: 'put', key, value } : { type: 'put', key, value, lease: opts.lease };
    this.cluster.txn([], [op]);
    return this.cluster.revision;
  }

  async delete(key: string, opts?: CallOptions): Promise<boolean> {
    this.#check(opts);
    const existed = this.cluster.get(key) !== undefined;
    this.cluster.txn([], [{ type: 'delete', key }]);
    return existed;
  }

  async txn(compares: Compare[], ops: Operation[], opts?: CallOptions): Promise<TxnResult> {
    this.#check(opts);
    const succeeded = this.cluster.txn(compares, ops);
    return { succeeded, revision: this.cluster.revision };
  }

  watch(prefix: string, opts: WatchOptions & { signal: AbortSignal }): AsyncIterable<WatchEvent> {
    const { signal } = opts;
    let unwatch = (): void => undefined;
    const onAbort = (): void => queue.abort();
    const queue = new EventQueue<WatchEvent>(() => {
      unwatch();
      signal.removeEventListener('abort', onAbort);
      this.#watches.delete(queue);
    });
    if (signal.aborted) {
      queue.abort();
      return queue;
    }
    try {
      this.#check();
      // "Changes after the call": pin the start revision now, not at the first next().
      const from = opts.fromRevision ?? this.cluster.revision + 1;
      unwatch = this.cluster.watch({ prefix, deliver: (events) => events.forEach((e) => queue.push({ ...e })) }, from);
    } catch (e) {
      queue.fail(e);
      return queue;
    }
    this.#watches.add(queue);
    signal.addEventListener('abort', onAbort, { once: true });
    return queue;
  }

  async grantLease(ttlSeconds: number, opts?: CallOptions): Promise<Lease> {
    this.#check(opts);
    const id = this.cluster.grantLease(ttlSeconds);
    const lease = new MemoryLease(this.cluster, id, ttlSeconds);
    this.#leases.add(lease);
    return lease;
  }

  async revision(opts?: CallOptions): Promise<number> {
    this.#check(opts);
    return this.cluster.revision;
  }

  /** Stops keep-alives (leases then expire after their TTL, as when a process exits) and ends watches. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const l of this.#leases) l.stop();
    this.#leases.clear();
    for (const q of this.#watches) q.end();
  }
}
