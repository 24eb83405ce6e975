// A watch over a key prefix on etcd's raw Watch stream, with our own resume logic.
// Why not the etcd3 client's Watcher: after a reconnect it resumes from the last response's
// header.revision + 1, which during a history catch-up is the *current* store revision, so
// events between the last delivered one and "now" would be lost. Here we track `next`, the first
// revision not yet delivered, and on any broken stream re-create the watch with
// start_revision = next. etcd sends all events of one revision in one response (without
// `fragment`), so "next = last delivered revision + 1" never splits a revision; and every event
// below `next` is dropped, so a replayed response is never delivered twice.
import { castGrpcErrorMessage, type IDuplexStream, type IWatchRequest, type IWatchResponse } from 'etcd3';
import type { Logger } from '../core/log.ts';
import { LpmosError } from '../core/errors.ts';
import type { WatchEvent } from '../core/store/store.ts';
import { EventQueue } from './event-queue.ts';
import { isTransient } from './etcd-errors.ts';

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse> & {
  cancel?: () => void;
  pause?: () => void;
  resume?: () => void;
};

export interface WatchDeps {
  openStream(): Promise<WatchStream>;
  /** One unary call: proves the cluster answers and refreshes an expired auth token. */
  ping(): Promise<unknown>;
  toError(e: unknown): unknown;
  log: Logger;
  /** Ends every watch of a store on close(). */
  closed: AbortSignal;
  /** Queued events before the stream is paused (backpressure down to etcd). */
  buffer: number;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 2000;

/**
 * Closes a gRPC stream without hurting the others. etcd3 treats a stream error as a host
 * failure and then closes every channel of the store (all watches, keep-alives and calls in
 * flight), unless the stream is no longer writable; cancel() alone errors with CANCELLED while
 * still writable. So: half-close first, then cancel.
 */
export function closeStream(stream: { end(): void; cancel?: () => void }): void {
  try {
    stream.end();
  } catch {
    // already ended
  }
  stream.cancel?.();
}

export function prefixRange(prefix: string): { key: Buffer; range_end: Buffer } {
  if (prefix === '') return { key: Buffer.from([0]), range_end: Buffer.from([0]) };
  const key = Buffer.from(prefix);
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return { key, range_end: end.subarray(0, i + 1) };
    }
  }
  // A prefix of only 0xff bytes: everything from the prefix on (etcd's "\0" range end).
  return { key, range_end: Buffer.from([0]) };
}

export function etcdWatch(deps: WatchDeps, prefix: string, fromRevision: number | undefined, signal: AbortSignal): EventQueue<WatchEvent> {
  const stop = new AbortController();
  let current: WatchStream | undefined;
  const queue = new EventQueue<WatchEvent>(() => stop.abort(), deps.buffer);
  queue.onPause = () => current?.pause?.();
  queue.onDrain = () => current?.resume?.();
  const end = (): void => stop.abort();
  // The consumer's abort drops whatever is queued; closing the store lets it drain.
  const abort = (): void => {
    queue.abort();
    stop.abort();
  };
  signal.addEventListener('abort', abort, { once: true });
  deps.closed.addEventListener('abort', end, { once: true });
  if (signal.aborted) abort();
  if (deps.closed.aborted) end();

  const run = async (): Promise<void> => {
    /** First revision not yet delivered; undefined until etcd told us "now" (watch created). */
    let next = fromRevision;
    let backoff = BACKOFF_MIN_MS;
    let failures = 0;
    while (!stop.signal.aborted) {
      try {
        if (failures > 0) await deps.ping();
        const stream = (await deps.openStream()) as WatchStream;
        current = stream;
        if (queue.paused) stream.pause?.(); // a resumed watch keeps the consumer's backpressure
        await new Promise<void>((resolve, reject) => {
          const onStop = (): void => {
            closeStream(stream);
            resolve();
          };
          if (stop.signal.aborted) return onStop();
          stop.signal.addEventListener('abort', onStop, { once: true });
          const finish = (err?: Error): void => {
            stop.signal.removeEventListener('abort', onStop);
            if (err) reject(err);
            else resolve();
          };
          stream.on('error', (err) => finish(err));
          stream.on('end', () => finish(new Error('watch stream ended')));
          stream.on('data', (res) => {
            try {
              if (res.canceled) {
                const compact = Number(res.compact_revision);
                if (compact > 0) {
                  throw new LpmosError('E_COMPACTED', `watch of ${prefix} from revision ${next} failed: history before ${compact} is compacted`);
                }
                // e.g. "permission denied": let the error mapping decide whether it is worth a retry.
                throw castGrpcErrorMessage(`etcd cancelled the watch of ${prefix}: ${res.cancel_reason || 'no reason given'}`);
              }
              if (res.created) {
                backoff = BACKOFF_MIN_MS;
                if (failures > 0) deps.log.info({ prefix, fromRevision: next, failures }, 'etcd watch resumed');
                failures = 0;
                if (next === undefined) next = Number(res.header.revision) + 1;
                return;
              }
              const from = next ?? 0;
              let last = 0;
              for (const ev of res.events) {
                const rev = Number(ev.kv.mod_revision);
                last = Math.max(last, rev);
                if (rev < from) continue; // already delivered before the stream broke
                const key = ev.kv.key.toString();
                queue.push(ev.type === 'Put'
                  ? { type: 'put', key, value: ev.kv.value.toString(), modRevision: rev }
                  : { type: 'delete', key, modRevision: rev });
              }
              // A progress notification (no events) promises nothing ≤ header.revision is left.
              const done = res.events.length > 0 ? last : Number(res.header.revision);
              if (done + 1 > from) next = done + 1;
            } catch (e) {
              closeStream(stream);
              finish(e as Error);
            }
          });
          stream.write({
            create_request: { ...prefixRange(prefix), start_revision: next ?? 0, progress_notify: true },
          });
        });
        closeStream(stream);
      } catch (raw) {
        if (stop.signal.aborted) break;
        const e = deps.toError(raw);
        if (!isTransient(e)) {
          queue.fail(e);
          return;
        }
        failures++;
        deps.log.warn({ prefix, nextRevision: next, retryInMs: backoff, err: (e as Error).message }, 'etcd watch broken; resuming');
        await sleep(backoff, stop.signal);
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      } finally {
        current = undefined;
      }
    }
    queue.end();
  };
  run().catch((e: unknown) => queue.fail(e)).finally(() => {
    signal.removeEventListener('abort', abort);
    deps.closed.removeEventListener('abort', end);
  });
  return queue;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
