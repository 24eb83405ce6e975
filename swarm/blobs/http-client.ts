// Range GETs for one piece, from a peer's HTTP piece server or from the seed's artifact route (both
// answer 206 for one range). http: URLs go through the fetcher's own client (range-client.ts: the
// kernel reads the body straight into the piece's buffer); node:http when an Agent is passed.
import { Agent, request } from 'node:http';
import { PieceError } from './piece-error.ts';
import { RangeClient } from './range-client.ts';

/** The process's range client: keep-alive connections, at most 16 requests in flight per origin. */
export const rangeClient = new RangeClient({ maxSockets: 16 });

export const httpAgent = new Agent({ keepAlive: true, maxSockets: 16, keepAliveMsecs: 10_000 });

/** Counters over every range read in this process: 206/200 responses read, body chunks ('data' events), body bytes. */
export const httpClientStats = { responses: 0, chunks: 0, bytes: 0 };

/** Bytes [start, end) of `url` into a new buffer; `total` is the resource's size (to accept a 200 for the whole). */
export function httpRange(url: string, start: number, end: number, total: number, signal: AbortSignal, agent?: Agent): Promise<Uint8Array> {
  if (!agent && url.startsWith('http:')) return rangeClient.get(url, start, end, total, signal);
  return nodeHttpRange(url, start, end, total, signal, agent ?? httpAgent);
}

function nodeHttpRange(url: string, start: number, end: number, total: number, signal: AbortSignal, agent: Agent): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    const fail = (reason: 'busy' | 'not-found' | 'failed' | 'timeout' | 'bad-bytes', msg: string, cause?: unknown): void =>
      reject(new PieceError(signal.aborted ? 'timeout' : reason, `${url}: ${msg}`, cause === undefined ? undefined : { cause }));
    let req;
    try {
      req = request(url, { method: 'GET', agent, signal, headers: { Range: `bytes=${start}-${end - 1}` } });
    } catch (e) {
      fail('failed', (e as Error).message, e);
      return;
    }
    req.on('error', (e) => fail('failed', e.message, e));
    req.on('response', (res) => {
      const whole = res.statusCode === 200 && start === 0 && end === total;
      if (res.statusCode !== 206 && !whole) {
        res.resume();
        if (res.statusCode === 503 || res.statusCode === 429) fail('busy', `HTTP ${res.statusCode}`);
        else if (res.statusCode === 404) fail('not-found', 'HTTP 404');
        else fail('failed', `HTTP ${res.statusCode}`);
        return;
      }
      const cr = res.headers['content-range'];
      if (!whole && cr !== `bytes ${start}-${end - 1}/${total}`) {
        res.resume();
        fail('bad-bytes', `Content-Range "${cr ?? ''}" is not bytes ${start}-${end - 1}/${total}`);
        return;
      }
      const body = new Uint8Array(end - start);
      let off = 0;
      httpClientStats.responses++;
      res.on('data', (c: Buffer) => {
        httpClientStats.chunks++;
        httpClientStats.bytes += c.length;
        if (off + c.length > body.length) {
          res.destroy();
          fail('bad-bytes', 'longer than the range');
          return;
        }
        body.set(c, off);
        off += c.length;
      });
      res.on('end', () => (off === body.length ? resolve(body) : fail('failed', `ended after ${off} of ${body.length} bytes`)));
      res.on('error', (e) => fail('failed', e.message, e));
      res.on('aborted', () => fail('failed', 'response aborted'));
    });
    req.end();
  });
}
