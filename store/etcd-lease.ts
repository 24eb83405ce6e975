// A lease on etcd kept alive by this process: a keep-alive every TTL/3 on etcd's LeaseKeepAlive
// stream (as etcd's own clientv3 does). `lost` fires when etcd answers TTL 0 (the lease is gone)
// or when no keep-alive succeeded for a whole TTL: by then etcd has expired it, or will as soon
// as it can, so the holder must assume its keys are gone.
import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, LeaseClient } from 'etcd3';
import { LpmosError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Lease } from '../core/store/store.ts';
import { closeStream } from './etcd-watch.ts';

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> & { cancel?: () => void };

export class EtcdLease implements Lease {
  readonly id: string;
  readonly ttlSeconds: number;
  readonly #client: LeaseClient;
  readonly #log: Logger;
  readonly #lost = new AbortController();
  readonly #timer: NodeJS.Timeout;
  #stream: KeepAliveStream | undefined;
  #opening = false;
  #broken = false;
  #lastOk = Date.now();
  #stopped = false;
  readonly #onStop: (lease: EtcdLease) => void;
  readonly #toError: (e: unknown) => unknown;

  constructor(client: LeaseClient, id: string, ttlSeconds: number, deps: { log: Logger; onStop: (lease: EtcdLease) => void; toError: (e: unknown) => unknown }) {
    this.#client = client;
    this.id = id;
    this.ttlSeconds = ttlSeconds;
    this.#log = deps.log;
    this.#onStop = deps.onStop;
    this.#toError = deps.toError;
    this.#timer = setInterval(() => this.#tick(), Math.max(100, (ttlSeconds * 1000) / 3));
    this.#timer.unref();
  }

  get lost(): AbortSignal {
    return this.#lost.signal;
  }

  #tick(): void {
    if (this.#stopped) return;
    if (Date.now() - this.#lastOk > this.ttlSeconds * 1000) {
      this.#lose(`no keep-alive succeeded for ${this.ttlSeconds} s`);
      return;
    }
    if (this.#stream) {
      this.#stream.write({ ID: this.id });
      return;
    }
    if (this.#opening) return;
    this.#opening = true;
    this.#open().catch((err: unknown) => {
      this.#broken = true;
      this.#log.debug({ lease: this.id, err: (err as Error).message }, 'lease keep-alive stream could not open');
    }).finally(() => {
      this.#opening = false;
    });
  }

  async #open(): Promise<void> {
    if (this.#broken) {
      // After a broken stream, one unary call first: etcd3 refreshes an auth token only on unary
      // calls (simple tokens die with an etcd restart), and it tells us if the lease is gone.
      const ttl = await this.#client.leaseTimeToLive({ ID: this.id });
      if (Number(ttl.TTL) < 0) {
        this.#lose('etcd no longer knows the lease');
        return;
      }
      this.#broken = false;
    }
    const stream = (await this.#client.leaseKeepAlive()) as KeepAliveStream;
    if (this.#stopped) {
      closeStream(stream);
      return;
    }
    this.#stream = stream;
    const drop = (err?: Error): void => {
      if (this.#stream === stream) this.#stream = undefined;
      this.#broken = true;
      if (err && !this.#stopped) this.#log.debug({ lease: this.id, err: err.message }, 'lease keep-alive stream broken');
    };
    stream.on('error', drop);
    stream.on('end', () => drop());
    stream.on('data', (res) => {
      if (Number(res.TTL) <= 0) this.#lose('etcd says the lease expired');
      else this.#lastOk = Date.now();
    });
    stream.write({ ID: this.id });
  }

  #lose(why: string): void {
    if (this.#stopped) return;
    this.stop();
    this.#log.warn({ lease: this.id, why }, 'lease lost');
    this.#lost.abort(new LpmosError('E_NOT_FOUND', `lease ${this.id} lost: ${why}`));
  }

  /** Stops the keep-alives without revoking: etcd ends the lease after its TTL. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    if (this.#stream) closeStream(this.#stream);
    this.#stream = undefined;
    this.#onStop(this);
  }

  async revoke(): Promise<void> {
    this.stop();
    try {
      await this.#client.leaseRevoke({ ID: this.id });
    } catch (e) {
      // Already gone is what we wanted.
      if (!/lease not found/i.test((e as Error).message)) throw this.#toError(e);
    }
  }
}
