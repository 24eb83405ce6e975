// The gater's allow-list, kept in step with etcd: list `swarm/peers/` once, then watch from the
// listing's revision, so a peer enrolled a moment ago is admitted and a deleted one refused without
// polling. A compacted watch (E_COMPACTED) lists again; any other watch error retries after a pause.
import { setTimeout as sleep } from 'node:timers/promises';
import { isLpmosError } from '../../core/errors.ts';
import type { Keys } from '../../core/keys.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import { decode } from '../../core/registry/records.ts';
import type { Store } from '../../core/store/store.ts';
import { peerRecordSchema, type PeerRecord } from './record.ts';

export interface AllowListOptions {
  store: Store;
  keys: Keys;
  /** Peer ids admitted whatever etcd says (the seed's own). */
  always?: string[];
  logger?: Logger;
  /** Pause before re-watching after an error, ms. */
  retryMs?: number;
}

export class PeerAllowList {
  readonly #store: Store;
  readonly #keys: Keys;
  readonly #always: Set<string>;
  readonly #log: Logger;
  readonly #retryMs: number;
  readonly #peers = new Map<string, PeerRecord>();
  readonly #byMachine = new Map<string, string>();
  readonly #removed = new Set<(peerId: string, machine: string) => void>();
  #stop: AbortController | undefined;
  #loop: Promise<void> | undefined;

  constructor(opts: AllowListOptions) {
    this.#store = opts.store;
    this.#keys = opts.keys;
    this.#always = new Set(opts.always ?? []);
    this.#log = opts.logger ?? silentLogger();
    this.#retryMs = opts.retryMs ?? 1000;
  }

  has(peerId: string): boolean {
    return this.#always.has(peerId) || this.#peers.has(peerId);
  }

  /** The machine a peer id is enrolled for (undefined for unknown peers and for `always` ones). */
  machineOf(peerId: string): string | undefined {
    return this.#peers.get(peerId)?.machine;
  }

  peerOf(machine: string): string | undefined {
    return this.#byMachine.get(machine);
  }

  get size(): number {
    return this.#peers.size;
  }

  /** Called when a peer leaves the list, e.g. to hang up its connections. Returns an unsubscribe. */
  onRemoved(fn: (peerId: string, machine: string) => void): () => void {
    this.#removed.add(fn);
    return () => this.#removed.delete(fn);
  }

  /** Resolves once the current list is loaded; changes are followed until stop(). */
  async start(signal?: AbortSignal): Promise<void> {
    this.#stop = new AbortController();
    const stop = this.#stop.signal;
    const revision = await this.#load(signal);
    this.#loop = this.#follow(revision, stop);
  }

  async stop(): Promise<void> {
    this.#stop?.abort();
    await this.#loop;
  }

  async #load(signal?: AbortSignal): Promise<number> {
    const { kvs, revision } = await this.#store.list(this.#keys.swarmPeers(), signal ? { signal } : undefined);
    const seen = new Set<string>();
    for (const kv of kvs) {
      const id = kv.key.slice(this.#keys.swarmPeers().length);
      seen.add(id);
      this.#set(id, kv.value, kv.key);
    }
    for (const id of [...this.#peers.keys()]) if (!seen.has(id)) this.#delete(id);
    return revision;
  }

  #set(peerId: string, value: string, key: string): void {
    try {
      const rec = decode(peerRecordSchema, { key, value, createRevision: 0, modRevision: 0, version: 0 });
      const old = this.#peers.get(peerId);
      if (old && old.machine !== rec.machine && this.#byMachine.get(old.machine) === peerId) this.#byMachine.delete(old.machine);
      this.#peers.set(peerId, rec);
      this.#byMachine.set(rec.machine, peerId);
    } catch (e) {
      // A record we cannot read admits nobody.
      this.#log.warn({ key, err: (e as Error).message }, 'ignoring unreadable swarm peer record');
      this.#delete(peerId);
    }
  }

  #delete(peerId: string): void {
    const rec = this.#peers.get(peerId);
    if (!rec) return;
    this.#peers.delete(peerId);
    if (this.#byMachine.get(rec.machine) === peerId) this.#byMachine.delete(rec.machine);
    for (const fn of this.#removed) {
      try {
        fn(peerId, rec.machine);
      } catch (e) {
        this.#log.warn({ err: (e as Error).message }, 'allow-list removal hook failed');
      }
    }
  }

  async #follow(revision: number, stop: AbortSignal): Promise<void> {
    const prefix = this.#keys.swarmPeers();
    let from = revision + 1;
    while (!stop.aborted) {
      try {
        for await (const ev of this.#store.watch(prefix, { fromRevision: from, signal: stop })) {
          from = ev.modRevision + 1;
          const id = ev.key.slice(prefix.length);
          if (ev.type === 'put' && ev.value !== undefined) this.#set(id, ev.value, ev.key);
          else this.#delete(id);
        }
        // A watch ends without an error only when we stop or the store was closed: nothing to follow.
        return;
      } catch (e) {
        if (stop.aborted) return;
        let err = e;
        if (isLpmosError(e, 'E_COMPACTED')) {
          this.#log.warn('swarm peer watch compacted; listing again');
          try {
            from = (await this.#load(stop)) + 1;
            continue;
          } catch (e2) {
            err = e2;
          }
        }
        this.#log.warn({ err: (err as Error).message }, 'swarm peer watch failed; retrying');
        await sleep(this.#retryMs, undefined, { signal: stop }).catch(() => undefined);
      }
    }
  }
}
