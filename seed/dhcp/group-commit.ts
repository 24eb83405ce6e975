// Group commit for lease transactions: while one transaction is in flight, the next ones queue and
// go to the store together as one transaction (their compares and operations joined), so a boot
// storm costs a few etcd round trips, not one per client. Entries never share a key within a group
// (a conflicting one waits for the next group). If a joined transaction fails, each of its entries
// is retried alone, so one lost compare-and-swap never fails the others.
import type { Compare, Operation, Store, TxnResult } from '../../core/store/store.ts';

interface Entry {
  compares: Compare[];
  ops: Operation[];
  keys: string[];
  resolve: (r: TxnResult) => void;
  reject: (e: unknown) => void;
}

/** etcd's default --max-txn-ops is 128; stay well below it with the biggest lease entry (4 ops). */
const MAX_OPS = 96;

export class GroupCommit {
  readonly #store: Store;
  #queue: Entry[] = [];
  #busy = false;
  /** Transactions sent to the store (for tests and counters). */
  txns = 0;

  constructor(store: Store) {
    this.#store = store;
  }

  txn(compares: Compare[], ops: Operation[]): Promise<TxnResult> {
    const keys = [...compares.map((c) => c.key), ...ops.map((o) => (o.type === 'deletePrefix' ? o.prefix : o.key))];
    return new Promise((resolve, reject) => {
      this.#queue.push({ compares, ops, keys, resolve, reject });
      if (!this.#busy) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#queue.length > 0) {
        const group: Entry[] = [];
        const rest: Entry[] = [];
        const used = new Set<string>();
        let ops = 0;
        for (const e of this.#queue) {
          if (ops + e.ops.length > MAX_OPS || e.keys.some((k) => used.has(k))) { rest.push(e); continue; }
          e.keys.forEach((k) => used.add(k));
          ops += e.ops.length;
          group.push(e);
        }
        this.#queue = rest;
        await this.#run(group);
      }
    } finally {
      this.#busy = false;
    }
  }

  async #run(group: Entry[]): Promise<void> {
    try {
      this.txns++;
      const r = await this.#store.txn(group.flatMap((e) => e.compares), group.flatMap((e) => e.ops));
      if (r.succeeded || group.length === 1) {
        for (const e of group) e.resolve(r);
        return;
      }
    } catch (e) {
      if (group.length === 1) { group[0]!.reject(e); return; }
    }
    // The joined transaction failed: find out which entry lost by trying each alone.
    await Promise.all(group.map(async (e) => {
      try {
        this.txns++;
        e.resolve(await this.#store.txn(e.compares, e.ops));
      } catch (err) {
        e.reject(err);
      }
    }));
  }
}
