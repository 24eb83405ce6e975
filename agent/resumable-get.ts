// A large HTTP download that survives its connection: when the body ends early or the socket goes
// (seen under TCG: a root image's stream "terminated" minutes in, after the seed had sent it all),
// the rest is asked for with `Range: bytes=<received>-` and the bytes continue where they stopped.
// Gives up after `tries` failures in a row without progress. The caller checks the whole (sha256).
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, formatError, LpmosError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

export interface ResumableGetOptions {
  url: string;
  size: number;
  signal: AbortSignal;
  log: Logger;
  /** Failures in a row (no byte received in between) before giving up (default 5). */
  tries?: number;
  /** Wait before the n-th retry: n × this (default 1000 ms). */
  backoffMs?: number;
}

export async function* resumableGet(o: ResumableGetOptions): AsyncGenerator<Uint8Array> {
  let offset = 0;
  let failures = 0;
  while (offset < o.size) {
    try {
      const res = await fetch(o.url, { signal: o.signal, ...(offset ? { headers: { Range: `bytes=${offset}-` } } : {}) });
      const want = offset ? 206 : 200;
      if (res.status !== want || !res.body) {
        await res.body?.cancel().catch(() => undefined);
        throw new LpmosError(res.status === 404 ? ErrorCode.NotFound : ErrorCode.Unavailable, `${o.url}: HTTP ${res.status}${offset ? ` to a request from byte ${offset}` : ''}`);
      }
      for await (const chunk of res.body) {
        const c = chunk as Uint8Array;
        if (offset + c.length > o.size) throw new LpmosError(ErrorCode.Validation, `${o.url}: more than the ${o.size} bytes expected`);
        offset += c.length;
        failures = 0;
        yield c;
      }
      if (offset < o.size) throw new Error(`the body ended after ${offset} of ${o.size} bytes`);
    } catch (e) {
      if (o.signal.aborted) throw e;
      if (e instanceof LpmosError && (e.code === ErrorCode.Validation || e.code === ErrorCode.NotFound)) throw e;
      if (++failures >= (o.tries ?? 5)) throw new LpmosError(ErrorCode.Unavailable, `${o.url}: ${formatError(e)} (after ${offset} of ${o.size} bytes; ${failures} tries)`, { cause: e });
      o.log.warn({ url: o.url, offset, size: o.size, failures, err: formatError(e) }, 'download cut off: asking for the rest');
      await sleep((o.backoffMs ?? 1000) * failures, undefined, { signal: o.signal });
    }
  }
}
