// The Store on a real etcd v3 cluster, through the npm `etcd3` client's gRPC stubs. Paging,
// watch resume and lease keep-alive are ours (see etcd-watch.ts, etcd-lease.ts); errors are
// translated once in etcd-errors.ts.
import { ConsecutiveBreaker, circuitBreaker, handleWhen, noop, retry } from 'cockatiel';
import { Etcd3, isRecoverableError, type IKeyValue, type IOptions, type IRequestOp, type ICompare } from 'etcd3';
import { LpmosError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import type {
  CallOptions, Compare, KeyValue, Lease, ListResult, Operation, Store, TxnResult, WatchEvent, WatchOptions,
} from '../core/store/store.ts';
import { isTooLarge, toLpmosError } from './etcd-errors.ts';
import { EtcdLease } from './etcd-lease.ts';
import { etcdWatch, prefixRange } from './etcd-watch.ts';

export interface EtcdStoreOptions {
  /** Client URLs, e.g. `http://127.0.0.1:2379`; all `https:` when TLS is used. */
  endpoints: string[];
  /** PEM contents (not paths; connect.ts reads the files). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  auth?: { username: string; password: string };
  /** Deadline of each unary call in ms (default 5000). Watches and keep-alives have none. */
  timeoutMs?: number;
  /** Keys per range request when listing (default 1000). */
  pageSize?: number;
  /** Largest gRPC message accepted (default 256 MiB); a list page over it is split. */
  maxReceiveBytes?: number;
  /** Events a watch queues for a slow consumer before it pauses the stream (default 10 000). */
  watchBuffer?: number;
  logger?: Logger;
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_PAGE = 1000;

export class EtcdStore implements Store {
  readonly endpoints: readonly string[];
  readonly #client: Etcd3;
  readonly #timeoutMs: number;
  readonly #pageSize: number;
  readonly #watchBuffer: number;
  readonly #log: Logger;
  readonly #closed = new AbortController();
  readonly #leases = new Set<EtcdLease>();

  constructor(opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) throw new LpmosError('E_USAGE', 'no etcd endpoints given');
    this.endpoints = [...opts.endpoints];
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#pageSize = opts.pageSize ?? DEFAULT_PAGE;
    this.#watchBuffer = opts.watchBuffer ?? 10_000;
    this.#log = opts.logger ?? silentLogger();
    const timeout = this.#timeoutMs;
    const options: IOptions = {
      hosts: this.endpoints.slice(),
      // Unary calls get a deadline so a black-holed cluster fails in bounded time; streams must not.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      dialTimeout: timeout,
      // etcd3's default is a per-host circuit breaker that stays open for 5 s after 3 failures,
      // plus 3 retries of every call. With one endpoint (the seed's own etcd) that only delays
      // recovery after a restart, and retrying a txn whose answer was lost can turn a landed
      // write into "compare failed": so no breaker and no retry. With several endpoints a short
      // breaker plus one retry per other endpoint is the failover.
      faultHandling: this.endpoints.length === 1
        ? { host: () => noop, global: noop }
        : {
          host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(2) }),
          global: retry(handleWhen(isRecoverableError), { maxAttempts: this.endpoints.length - 1 }),
        },
      grpcOptions: {
        // Detect a dead peer on a quiet watch stream; etcd permits pings every 5 s (--grpc-keepalive-min-time).
        // 20 s for the answer (etcd's own --grpc-keepalive-timeout): an agent under emulation or a busy
        // machine answered late with 5 s, and every drop cost a reconnect and three watch resumes.
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 20_000,
        'grpc.keepalive_permit_without_calls': 1,
        // Reconnect quickly after etcd restarts (default backoff grows to 120 s).
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 2000,
        // Large pages of large values (1000 × a machine's inventory) exceed the 4 MiB default.
        'grpc.max_receive_message_length': opts.maxReceiveBytes ?? 256 * 1024 * 1024,
      },
    };
    if (opts.tls?.ca || opts.tls?.cert) {
      options.credentials = { rootCertificate: opts.tls.ca ?? Buffer.alloc(0) };
      if (opts.tls.cert) options.credentials.certChain = opts.tls.cert;
      if (opts.tls.key) options.credentials.privateKey = opts.tls.key;
    }
    if (opts.auth) options.auth = { username: opts.auth.username, password: opts.auth.password };
    this.#client = new Etcd3(options);
  }

  /** Runs one call, translating errors and honouring the caller's AbortSignal. */
  async #call<T>(fn: () => Promise<T>, opts?: CallOptions): Promise<T> {
    const signal = opts?.signal;
    signal?.throwIfAborted();
    if (this.#closed.signal.aborted) throw new LpmosError('E_UNAVAILABLE', 'etcd store is closed');
    // "Channel closed before call started": the call raced a channel reset and never reached
    // etcd, so one more try is safe even for a txn.
    const p = fn().catch((e: unknown) => {
      if (e instanceof Error && /closed before call started/.test(e.message)) return fn();
      throw e;
    }).catch((e: unknown) => {
      throw toLpmosError(e, this.endpoints, this.#timeoutMs);
    });
    if (!signal) return p;
    // gRPC unary calls cannot be cancelled through etcd3; stop waiting (the deadline ends the call).
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  #error = (e: unknown): unknown => toLpmosError(e, this.endpoints, this.#timeoutMs);

  async get(key: string, opts?: CallOptions): Promise<KeyValue | undefined> {
    const res = await this.#call(() => this.#client.kv.range({ key: Buffer.from(key) }), opts);
    const kv = res.kvs[0];
    return kv ? toKeyValue(kv, false) : undefined;
  }

  async list(prefix: string, opts?: CallOptions & { keysOnly?: boolean }): Promise<ListResult> {
    const { key: start, range_end } = prefixRange(prefix);
    const keysOnly = opts?.keysOnly === true;
    const kvs: KeyValue[] = [];
    let key = start;
    let revision = 0;
    let limit = this.#pageSize;
    for (;;) {
      // Every page reads at the first page's revision, so the whole listing is one snapshot.
      let res;
      try {
        res = await this.#call(() => this.#client.kv.range({
          key, range_end, limit, keys_only: keysOnly, ...(revision > 0 ? { revision } : {}),
        }), opts);
      } catch (e) {
        // A page of very large values can exceed the gRPC message limit: halve it and retry.
        if (!isTooLarge(e) || limit === 1) throw e;
        limit = Math.max(1, Math.floor(limit / 2));
        this.#log.debug({ prefix, limit }, 'etcd list page too large; halving');
        continue;
      }
      if (revision === 0) revision = Number(res.header.revision);
      for (const kv of res.kvs) kvs.push(toKeyValue(kv, keysOnly));
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || !last) break;
      // Continue right after the last key: the key with a 0x00 byte appended.
      key = Buffer.concat([last.key, Buffer.from([0])]);
    }
    return { kvs, revision };
  }

  async put(key: string, value: string, opts?: CallOptions & { lease?: string }): Promise<number> {
    const res = await this.#call(() => this.#client.kv.put({
      key: Buffer.from(key), value: Buffer.from(value), ...(opts?.lease !== undefined ? { lease: opts.lease } : {}),
    }), opts);
    return Number(res.header.revision);
  }

  async delete(key: string, opts?: CallOptions): Promise<boolean> {
    const res = await this.#call(() => this.#client.kv.deleteRange({ key: Buffer.from(key) }), opts);
    return Number(res.deleted) > 0;
  }

  async txn(compares: Compare[], ops: Operation[], opts?: CallOptions): Promise<TxnResult> {
    const compare: ICompare[] = compares.map((c) => ({
      key: Buffer.from(c.key), target: 'Mod', result: 'Equal', mod_revision: c.modRevision,
    }));
    const success: IRequestOp[] = ops.map(toRequestOp);
    const res = await this.#call(() => this.#client.kv.txn({ compare, success, failure: [] }), opts);
    return { succeeded: res.succeeded, revision: Number(res.header.revision) };
  }

  watch(prefix: string, opts: WatchOptions & { signal: AbortSignal }): AsyncIterable<WatchEvent> {
    // As every other call after close(): an error, not a watch that ends at once (a follower that
    // watches again whenever its watch ends spun on that without ever yielding to the event loop).
    if (this.#closed.signal.aborted) return failedWatch(new LpmosError('E_UNAVAILABLE', 'etcd store is closed'));
    return etcdWatch({
      openStream: () => this.#client.watchClient.watch(),
      ping: () => this.revision(),
      toError: this.#error,
      log: this.#log,
      closed: this.#closed.signal,
      buffer: this.#watchBuffer,
    }, prefix, opts.fromRevision, opts.signal);
  }

  async grantLease(ttlSeconds: number, opts?: CallOptions): Promise<Lease> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
      throw new LpmosError('E_VALIDATION', `lease TTL must be a whole number of seconds ≥ 1, got ${ttlSeconds}`);
    }
    const res = await this.#call(() => this.#client.leaseClient.leaseGrant({ TTL: ttlSeconds }), opts);
    const lease = new EtcdLease(this.#client.leaseClient, res.ID, Number(res.TTL), {
      log: this.#log, toError: this.#error, onStop: (l) => this.#leases.delete(l),
    });
    this.#leases.add(lease);
    return lease;
  }

  async revision(opts?: CallOptions): Promise<number> {
    // A count-only range over one key is the cheapest linearizable read that carries the revision.
    const res = await this.#call(() => this.#client.kv.range({ key: Buffer.from([0]), count_only: true }), opts);
    return Number(res.header.revision);
  }

  /** Compacts history before `revision` (maintenance and tests of E_COMPACTED). */
  async compact(revision: number, opts?: CallOptions): Promise<void> {
    await this.#call(() => this.#client.kv.compact({ revision, physical: true }), opts);
  }

  /** Stops keep-alives (leases then expire after their TTL), ends watches, closes connections. */
  async close(): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    for (const l of [...this.#leases]) l.stop();
    // Let watch loops cancel their streams before the channels go away.
    await new Promise((r) => setImmediate(r));
    this.#client.close();
  }
}

function toKeyValue(kv: IKeyValue, keysOnly: boolean): KeyValue {
  const out: KeyValue = {
    key: kv.key.toString(),
    value: keysOnly ? '' : kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
  };
  if (kv.lease && kv.lease !== '0') out.lease = kv.lease;
  return out;
}

function toRequestOp(op: Operation): IRequestOp {
  switch (op.type) {
    case 'put':
      return { request_put: { key: Buffer.from(op.key), value: Buffer.from(op.value), ...(op.lease !== undefined ? { lease: op.lease } : {}) } };
    case 'delete':
      return { request_delete_range: { key: Buffer.from(op.key) } };
    case 'deletePrefix':
      return { request_delete_range: prefixRange(op.prefix) };
  }
}

/** A watch that fails on its first read. */
function failedWatch(e: Error): AsyncIterable<WatchEvent> {
  return {
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(e) }),
  };
}
