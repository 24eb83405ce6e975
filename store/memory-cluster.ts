// The in-memory twin of an etcd cluster: one revision counter, keys with create/mod revision
// and version, an event history for watches, leases with TTL. Several MemoryStore clients can
// share one cluster, as several processes share one etcd. Semantics follow etcd v3:
// - a write (put, delete that removed something, txn with effect) makes exactly one new revision;
// - a delete event carries the revision of the delete;
// - watching from a revision below the compaction revision fails with E_COMPACTED;
// - a lease that is not kept alive for its TTL ends and deletes its keys in one revision;
// - one txn may touch a key only once (etcd: "duplicate key given in txn request").
import { LpmosError } from '../core/errors.ts';
import type { Compare, KeyValue, Operation, WatchEvent } from '../core/store/store.ts';

interface LeaseEntry {
  id: string;
  ttlSeconds: number;
  keys: Set<string>;
  timer: NodeJS.Timeout;
  /** Called when the lease ends by expiry or by someone else's revoke. */
  onEnd: Set<() => void>;
}

export interface ClusterWatcher {
  prefix: string;
  deliver(events: WatchEvent[]): void;
}

export class MemoryCluster {
  /** etcd starts at revision 1 with an empty key space. */
  #revision = 1;
  #compactRevision = 0;
  readonly #kvs = new Map<string, KeyValue>();
  readonly #history: WatchEvent[] = [];
  readonly #watchers = new Set<ClusterWatcher>();
  readonly #leases = new Map<string, LeaseEntry>();
  #nextLease = 0x1000;

  get revision(): number {
    return this.#revision;
  }

  get compactRevision(): number {
    return this.#compactRevision;
  }

  get(key: string): KeyValue | undefined {
    const kv = this.#kvs.get(key);
    return kv ? { ...kv } : undefined;
  }

  list(prefix: string, keysOnly: boolean): KeyValue[] {
    const out: KeyValue[] = [];
    for (const kv of this.#kvs.values()) {
      if (kv.key.startsWith(prefix)) out.push(keysOnly ? { ...kv, value: '' } : { ...kv });
    }
    // etcd orders by key bytes; compare UTF-8 bytes, not UTF-16 code units.
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  }

  /** Applies the ops if all compares hold; returns whether they held. */
  txn(compares: Compare[], ops: Operation[]): boolean {
    checkDistinct(ops);
    for (const op of ops) {
      if (op.type === 'put' && op.lease !== undefined && !this.#leases.has(op.lease)) {
        throw new LpmosError('E_NOT_FOUND', `lease ${op.lease} not found`);
      }
    }
    for (const c of compares) {
      if ((this.#kvs.get(c.key)?.modRevision ?? 0) !== c.modRevision) return false;
    }
    this.#apply(ops);
    return true;
  }

  #apply(ops: Operation[]): void {
    const rev = this.#revision + 1;
    const events: WatchEvent[] = [];
    const remove = (key: string): void => {
      const old = this.#kvs.get(key);
      if (!old) return;
      if (old.lease !== undefined) this.#leases.get(old.lease)?.keys.delete(key);
      this.#kvs.delete(key);
      events.push({ type: 'delete', key, modRevision: rev });
    };
    for (const op of ops) {
      if (op.type === 'put') {
        const old = this.#kvs.get(op.key);
        if (old?.lease !== undefined && old.lease !== op.lease) this.#leases.get(old.lease)?.keys.delete(op.key);
        const kv: KeyValue = {
          key: op.key,
          value: op.value,
          createRevision: old?.createRevision ?? rev,
          modRevision: rev,
          version: (old?.version ?? 0) + 1,
        };
        if (op.lease !== undefined) {
          kv.lease = op.lease;
          this.#leases.get(op.lease)?.keys.add(op.key);
        }
        this.#kvs.set(op.key, kv);
        events.push({ type: 'put', key: op.key, value: op.value, modRevision: rev });
      } else if (op.type === 'delete') {
        remove(op.key);
      } else {
        for (const key of [...this.#kvs.keys()]) if (key.startsWith(op.prefix)) remove(key);
      }
    }
    // Like etcd, a write that changed nothing (deleting absent keys) makes no revision.
    if (events.length === 0) return;
    this.#revision = rev;
    for (const e of events) this.#history.push(e);
    for (const w of this.#watchers) {
      const mine = events.filter((e) => e.key.startsWith(w.prefix));
      if (mine.length > 0) w.deliver(mine);
    }
  }

  /**
   * Registers a watcher and replays history from `fromRevision` (inclusive) first, in the same
   * tick, so nothing falls between replay and live delivery.
   */
  watch(watcher: ClusterWatcher, fromRevision: number | undefined): () => void {
    if (fromRevision !== undefined && fromRevision < this.#compactRevision) {
      throw new LpmosError('E_COMPACTED', `revision ${fromRevision} is compacted (oldest kept: ${this.#compactRevision})`);
    }
    if (fromRevision !== undefined && fromRevision <= this.#revision) {
      const past = this.#history.filter((e) => e.modRevision >= fromRevision && e.key.startsWith(watcher.prefix));
      if (past.length > 0) watcher.deliver(past);
    }
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }

  /** Drops history before `revision` (etcd keeps the revision itself). */
  compact(revision: number): void {
    if (revision <= this.#compactRevision) {
      throw new LpmosError('E_COMPACTED', `revision ${revision} is already compacted`);
    }
    if (revision > this.#revision) throw new LpmosError('E_VALIDATION', `revision ${revision} is in the future`);
    this.#compactRevision = revision;
    let drop = 0;
    while (drop < this.#history.length && (this.#history[drop]?.modRevision ?? Infinity) < revision) drop++;
    this.#history.splice(0, drop);
  }

  grantLease(ttlSeconds: number): string {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new LpmosError('E_VALIDATION', `lease TTL must be a whole number of seconds ≥ 1, got ${ttlSeconds}`);
    const id = String(this.#nextLease++);
    const entry: LeaseEntry = { id, ttlSeconds, keys: new Set(), onEnd: new Set(), timer: this.#expiry(id, ttlSeconds) };
    this.#leases.set(id, entry);
    return id;
  }

  #expiry(id: string, ttlSeconds: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.#end(id, true), ttlSeconds * 1000);
    timer.unref();
    return timer;
  }

  /** Renews the TTL; false when the lease is gone. */
  keepAlive(id: string): boolean {
    const entry = this.#leases.get(id);
    if (!entry) return false;
    clearTimeout(entry.timer);
    entry.timer = this.#expiry(id, entry.ttlSeconds);
    return true;
  }

  hasLease(id: string): boolean {
    return this.#leases.has(id);
  }

  onLeaseEnd(id: string, listener: () => void): () => void {
    const entry = this.#leases.get(id);
    if (!entry) {
      listener();
      return () => undefined;
    }
    entry.onEnd.add(listener);
    return () => entry.onEnd.delete(listener);
  }

  /** Revokes a lease: its keys are deleted in one revision. `notify` tells the holder it was lost. */
  revokeLease(id: string, notify = true): boolean {
    return this.#end(id, notify);
  }

  #end(id: string, notify: boolean): boolean {
    const entry = this.#leases.get(id);
    if (!entry) return false;
    clearTimeout(entry.timer);
    this.#leases.delete(id);
    this.#apply([...entry.keys].sort().map((key) => ({ type: 'delete' as const, key })));
    if (notify) for (const l of entry.onEnd) l();
    return true;
  }
}

function checkDistinct(ops: Operation[]): void {
  const puts = new Set<string>();
  const deletes = new Set<string>();
  const prefixes: string[] = [];
  for (const op of ops) {
    if (op.type === 'put') {
      if (puts.has(op.key)) throw new LpmosError('E_VALIDATION', `key ${op.key} is put twice in one transaction`);
      puts.add(op.key);
    } else if (op.type === 'delete') deletes.add(op.key);
    else prefixes.push(op.prefix);
  }
  // etcd also rejects a put of a key that the same txn deletes.
  for (const key of puts) {
    if (deletes.has(key) || prefixes.some((p) => key.startsWith(p))) {
      throw new LpmosError('E_VALIDATION', `key ${key} is both put and deleted in one transaction`);
    }
  }
}
