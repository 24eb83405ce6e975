// The state store (DESIGN §2). One interface, several backends (etcd, in-memory twin),
// one contract suite (test/contract/store-contract.ts) that every backend passes.
// Keys and values are strings (values are JSON written by core/model). Revisions are etcd's:
// one cluster-wide counter that grows with every write.

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the write that created the key (since its last deletion). */
  createRevision: number;
  /** Revision of the last write to the key: the token for compare-and-swap. */
  modRevision: number;
  /** Number of writes since creation (1 after the first put). */
  version: number;
  /** Lease id the key is attached to, if any. */
  lease?: string;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** New value for put; undefined for delete. */
  value?: string;
  /** Revision of the write that caused this event. */
  modRevision: number;
}

/** A precondition of a transaction. `modRevision: 0` means "the key must not exist". */
export interface Compare {
  key: string;
  modRevision: number;
}

export type Operation =
  | { type: 'put'; key: string; value: string; lease?: string }
  | { type: 'delete'; key: string }
  | { type: 'deletePrefix'; prefix: string };

export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the transaction (or the current one when it failed). */
  revision: number;
}

export interface ListResult {
  kvs: KeyValue[];
  /** The store revision the listing is consistent with: watch from `revision + 1` to follow it. */
  revision: number;
}

export interface Lease {
  readonly id: string;
  readonly ttlSeconds: number;
  /** Keep the lease alive until revoke()/close; `lost` fires when it expired anyway. */
  readonly lost: AbortSignal;
  revoke(): Promise<void>;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface WatchOptions extends CallOptions {
  /** First revision to deliver (inclusive). Default: changes after the call. */
  fromRevision?: number;
}

export interface Store {
  get(key: string, opts?: CallOptions): Promise<KeyValue | undefined>;
  /** Every key under the prefix, in key order; paged internally so large sets work. */
  list(prefix: string, opts?: CallOptions & { keysOnly?: boolean }): Promise<ListResult>;
  /** Unconditional put; returns the revision of the write. */
  put(key: string, value: string, opts?: CallOptions & { lease?: string }): Promise<number>;
  /** Deletes one key; true when it existed. */
  delete(key: string, opts?: CallOptions): Promise<boolean>;
  /**
   * All operations at once if every compare holds (compare-and-swap on mod revision),
   * nothing otherwise. Multi-key changes go through here so that nothing is half-written.
   */
  txn(compares: Compare[], ops: Operation[], opts?: CallOptions): Promise<TxnResult>;
  /**
   * Changes under the prefix, in revision order, each exactly once, until the signal aborts.
   * A broken connection is resumed from the last delivered revision without losing or repeating
   * events. Throws LpmosError E_COMPACTED when the requested history is gone.
   */
  watch(prefix: string, opts: WatchOptions & { signal: AbortSignal }): AsyncIterable<WatchEvent>;
  /** Grants a lease that the store keeps alive; keys put with it vanish when it ends. */
  grantLease(ttlSeconds: number, opts?: CallOptions): Promise<Lease>;
  /** Current store revision. */
  revision(opts?: CallOptions): Promise<number>;
  close(): Promise<void>;
}
