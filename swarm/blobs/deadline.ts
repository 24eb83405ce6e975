// A request's signal: aborts when `parent` does or after `ms`; `done()` clears both. Unlike
// AbortSignal.any([parent, AbortSignal.timeout(ms)]), a request that finished in time leaves no
// timer behind to fire later — each such firing built a DOMException with a stack trace and woke the
// composite's listeners (bench:swarm profile of an agent: abort_controller + DOMException ~4 % of
// its main thread, one timer per piece and per tracker request).
import { ErrorCode, LpmosError } from '../../core/errors.ts';

export interface Deadline {
  readonly signal: AbortSignal;
  /** Whether the time ran out (not the parent). */
  readonly timedOut: boolean;
  /** The request is over: no timer, no listener on the parent. */
  done(): void;
}

export function deadline(parent: AbortSignal | undefined, ms: number): Deadline {
  const ac = new AbortController();
  let timedOut = false;
  const onAbort = (): void => {
    clearTimeout(timer);
    ac.abort(parent!.reason);
  };
  // Unref'd, as AbortSignal.timeout's: a pending request's timer does not keep the process alive.
  const timer = setTimeout(() => {
    timedOut = true;
    parent?.removeEventListener('abort', onAbort);
    ac.abort(new LpmosError(ErrorCode.Timeout, `no answer within ${ms} ms`));
  }, ms).unref();
  if (parent?.aborted) onAbort();
  else parent?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: ac.signal,
    get timedOut() {
      return timedOut;
    },
    done() {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onAbort);
    },
  };
}

/** `p`, or the signal's reason once it aborts (p keeps running: the caller only stops waiting). */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
