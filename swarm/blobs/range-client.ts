// A minimal HTTP/1.1 client for the fetcher's Range GETs (issue 7, bench:swarm CPU): the response
// body is read by the kernel straight into the piece's buffer (net's `onread` with a buffer per
// read), with no HTTP parser, IncomingMessage stream, 'data' event or 64 KiB allocation per TCP read
// as node:http has. Keep-alive connections per origin, one request at a time on each. Only what our
// own servers answer is accepted: a status line, headers, a Content-Length body (a chunked or
// length-less answer fails the request). A request on a kept-alive socket that the server closed
// meanwhile is sent again once on a fresh one (GET is idempotent).
import { connect, type Socket } from 'node:net';
import { PieceError, type PieceFailure } from './piece-error.ts';

const HEAD_MAX = 16 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Counters over every range read in this process: responses read, reads (TCP chunks) of their bodies, body bytes, pauses to gather. */
export const rangeStats = { responses: 0, chunks: 0, bytes: 0, gathered: 0 };

/**
 * Slow bodies are read in gathered chunks. bench:swarm N = 32 at 5 Mbit/s: piece bodies came in 2.4 KiB
 * reads (4.3 KiB at 10 Mbit/s), ~120 a second per agent, each a wake-up of the process, and an agent's
 * CPU followed time rather than bytes (151 ms per MiB at 5 Mbit/s, 91–100 at 10, 37 at 100). A body read
 * smaller than GATHER_BYTES, with more to come, on a flow slower than GATHER_BELOW (its bytes since its
 * last read) pauses its socket until the next gather tick — one timer for every paused socket of the
 * process, GATHER_MS — so the kernel keeps what arrives meanwhile and the sockets are read together.
 * What a slow flow brings in GATHER_MS (≤ 10 KiB) fits well in its receive window, so the
 * sender is not held; a fast flow never waits (on a real network a small read is slow start, not a slow
 * link); a body completes at most GATHER_MS later. Measured (bench:swarm, 10 Mbit/s): reads −30 to −45 %;
 * 32 KiB / 100 ms cut them more but cost latency where the links are the limit (N = 8: 1.99–2.14× the
 * bound against 1.80–1.86×), and without the rate test a fast flow's slow start would wait 40 ms a piece.
 */
export const GATHER_BYTES = 8 * 1024;
export const GATHER_MS = 40;
/** Bytes per ms: 256 KiB/s, ~2 Mbit/s. */
export const GATHER_BELOW = (256 * 1024) / 1000;

const gather = {
  paused: new Set<Socket>(),
  timer: undefined as NodeJS.Timeout | undefined,
  pause(socket: Socket): void {
    rangeStats.gathered++;
    this.paused.add(socket);
    this.timer ??= setTimeout(() => this.resumeAll(), GATHER_MS).unref();
  },
  resumeAll(): void {
    this.timer = undefined;
    const all = [...this.paused];
    this.paused.clear();
    for (const s of all) if (!s.destroyed) s.resume();
  },
};

interface Head {
  status: number;
  headers: Map<string, string>;
}

/** Parses a response head (status line + headers, without the blank line); undefined when malformed. */
export function parseHead(text: string): Head | undefined {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) return undefined;
    headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  return { status: Number(m[1]), headers };
}

interface Exchange {
  /** The body's buffer once the head said how long it is. */
  body: Uint8Array | undefined;
  off: number;
  onHead: (h: Head, extra: Uint8Array) => void;
  onBody: () => void;
  /** The exchange failed; the connection is already closed. */
  fail: (reason: PieceFailure, msg: string, cause?: unknown) => void;
}

/** One keep-alive connection; reads go into `scratch` until a body is known, then into the body. */
class Conn {
  readonly socket: Socket;
  readonly key: string;
  #scratch = Buffer.allocUnsafe(HEAD_MAX);
  #headLen = 0;
  #x: Exchange | undefined;
  /** When the body's last read (or its head) arrived, performance.now(). */
  #lastRead = 0;
  /** Requests answered on this socket (a request on a used one may meet a close the server sent meanwhile). */
  used = 0;
  /** The server keeps the connection open after this response. */
  keepAlive = true;
  closed = false;
  #onGone: (c: Conn) => void;

  constructor(host: string, port: number, key: string, onGone: (c: Conn) => void) {
    this.key = key;
    this.#onGone = onGone;
    this.socket = connect({
      host,
      port,
      noDelay: true,
      onread: { buffer: () => this.#nextBuffer(), callback: (n: number) => this.#onRead(n) },
    });
    this.socket.on('error', (e) => this.#gone(e.message, e));
    this.socket.on('end', () => this.#gone('connection closed by the server'));
    this.socket.on('close', () => this.#gone('connection closed'));
  }

  #gone(msg: string, cause?: unknown): void {
    const x = this.#x;
    this.close();
    x?.fail('failed', msg, cause);
  }

  /** Never empty: libuv must always get room to read into. */
  #nextBuffer(): Uint8Array {
    const x = this.#x;
    if (x?.body && x.off < x.body.length) return x.body.subarray(x.off);
    return this.#headLen < HEAD_MAX ? this.#scratch.subarray(this.#headLen) : this.#scratch;
  }

  #onRead(n: number): boolean {
    const x = this.#x;
    if (!x) {
      // Bytes nobody asked for (a server must not send them): the connection cannot be trusted.
      this.close();
      return false;
    }
    if (x.body && x.off < x.body.length) {
      x.off += n;
      rangeStats.chunks++;
      rangeStats.bytes += n;
      const now = performance.now();
      const slow = n < GATHER_BELOW * (now - this.#lastRead);
      this.#lastRead = now;
      if (x.off === x.body.length) this.#done(x);
      else if (n < GATHER_BYTES && slow) {
        // Returning false pauses the socket (net's onread); the gather tick resumes it.
        gather.pause(this.socket);
        return false;
      }
      return true;
    }
    this.#headLen += n;
    const end = this.#scratch.subarray(0, this.#headLen).indexOf(CRLFCRLF);
    if (end < 0) {
      if (this.#headLen >= HEAD_MAX) this.failWith(x, 'failed', 'response head too long');
      return !this.closed;
    }
    const head = parseHead(this.#scratch.toString('latin1', 0, end));
    const extra = this.#scratch.subarray(end + 4, this.#headLen);
    this.#headLen = 0;
    if (!head) {
      this.failWith(x, 'failed', 'malformed response head');
      return false;
    }
    x.onHead(head, extra);
    return !this.closed;
  }

  #done(x: Exchange): void {
    this.#x = undefined;
    x.onBody();
  }

  /** Sends a request; `x` learns the head, then gets its body filled. */
  send(req: string, x: Exchange): void {
    this.#x = x;
    this.#headLen = 0;
    this.socket.ref();
    this.socket.write(req);
  }

  /** The head's body: `extra` (read with the head) first, the rest straight from the socket. */
  startBody(x: Exchange, body: Uint8Array, extra: Uint8Array): void {
    if (extra.length > body.length) {
      this.failWith(x, 'bad-bytes', 'longer than the range');
      return;
    }
    body.set(extra, 0);
    x.body = body;
    x.off = extra.length;
    this.#lastRead = performance.now();
    if (extra.length > 0) {
      rangeStats.chunks++;
      rangeStats.bytes += extra.length;
    }
    if (x.off === body.length) this.#done(x);
  }

  /** The exchange ends without its body: the socket is closed first (its stream position is lost). */
  failWith(x: Exchange, reason: PieceFailure, msg: string): void {
    this.close();
    x.fail(reason, msg);
  }

  /** The exchange ended with an empty error answer: the socket stays usable. */
  finish(): void {
    this.#x = undefined;
  }

  /** Idle in the pool: does not keep the process alive. */
  park(): void {
    this.socket.unref();
  }

  close(): void {
    this.#x = undefined;
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.#onGone(this);
  }
}

/** Keep-alive connections per origin (`host:port`), at most `maxSockets` requests in flight each. */
export class RangeClient {
  readonly maxSockets: number;
  #idle = new Map<string, Conn[]>();
  #busy = new Map<string, number>();
  #queue = new Map<string, (() => void)[]>();

  constructor(opts: { maxSockets?: number } = {}) {
    this.maxSockets = opts.maxSockets ?? 16;
  }

  /** Bytes [start, end) of `url` (http: only) into a new buffer; `total` is the resource's size (a 200 for the whole is accepted). */
  async get(url: string, start: number, end: number, total: number, signal: AbortSignal): Promise<Uint8Array> {
    const u = new URL(url);
    if (u.protocol !== 'http:') throw new PieceError('failed', `${url}: only http: URLs`);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const port = Number(u.port || 80);
    const key = `${host}:${port}`;
    const req = `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nRange: bytes=${start}-${end - 1}\r\nConnection: keep-alive\r\n\r\n`;
    if (signal.aborted) throw new PieceError('timeout', `${url}: aborted`);
    await this.#slot(key, signal);
    try {
      for (let attempt = 0; ; attempt++) {
        const c = this.#idle.get(key)?.pop() ?? new Conn(host, port, key, (x) => this.#drop(x));
        const reused = c.used > 0;
        const r = await this.#exchange(c, url, req, start, end, total, signal);
        if (!c.closed) {
          c.used++;
          if (c.keepAlive) this.#park(c);
          else c.close();
        }
        if (r.ok) return r.body;
        // A kept-alive socket the server had closed before answering: once more on a new one.
        if (reused && attempt === 0 && !r.headSeen && r.err.reason === 'failed' && !signal.aborted) continue;
        throw r.err;
      }
    } finally {
      this.#release(key);
    }
  }

  #exchange(c: Conn, url: string, req: string, start: number, end: number, total: number, signal: AbortSignal): Promise<{ ok: true; body: Uint8Array } | { ok: false; err: PieceError; headSeen: boolean }> {
    return new Promise((resolve) => {
      let headSeen = false;
      let settled = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        return true;
      };
      const x: Exchange = {
        body: undefined,
        off: 0,
        fail: (reason, msg, cause) => {
          if (!settle()) return;
          resolve({ ok: false, headSeen, err: new PieceError(signal.aborted ? 'timeout' : reason, `${url}: ${msg}`, cause === undefined ? undefined : { cause }) });
        },
        onHead: (h, extra) => {
          headSeen = true;
          const whole = h.status === 200 && start === 0 && end === total;
          const len = h.headers.get('content-length');
          c.keepAlive = !/close/i.test(h.headers.get('connection') ?? '');
          if (h.headers.has('transfer-encoding') || len === undefined || !/^\d+$/.test(len)) {
            c.failWith(x, 'failed', `HTTP ${h.status} without a Content-Length`);
            return;
          }
          if (h.status !== 206 && !whole) {
            const why = h.status === 503 || h.status === 429 ? 'busy' : h.status === 404 ? 'not-found' : 'failed';
            if (Number(len) > 0) {
              c.failWith(x, why, `HTTP ${h.status}`);
              return;
            }
            // An empty error answer leaves the connection usable.
            c.finish();
            if (settle()) resolve({ ok: false, headSeen, err: new PieceError(why, `${url}: HTTP ${h.status}`) });
            return;
          }
          const cr = h.headers.get('content-range');
          if (!whole && cr !== `bytes ${start}-${end - 1}/${total}`) {
            c.failWith(x, 'bad-bytes', `Content-Range "${cr ?? ''}" is not bytes ${start}-${end - 1}/${total}`);
            return;
          }
          if (Number(len) !== end - start) {
            c.failWith(x, 'bad-bytes', `Content-Length ${len} is not ${end - start}`);
            return;
          }
          rangeStats.responses++;
          // Not zero-filled (every byte is read into it, or the exchange fails), and a buffer of its
          // own, so the store keeps it without a copy.
          c.startBody(x, new Uint8Array(Buffer.allocUnsafeSlow(end - start).buffer), extra);
        },
        onBody: () => {
          if (settle()) resolve({ ok: true, body: x.body! });
        },
      };
      const onAbort = (): void => c.failWith(x, 'timeout', 'aborted');
      signal.addEventListener('abort', onAbort, { once: true });
      c.send(req, x);
    });
  }

  #park(c: Conn): void {
    let list = this.#idle.get(c.key);
    if (!list) this.#idle.set(c.key, (list = []));
    c.park();
    list.push(c);
    while (list.length > this.maxSockets) list[0]!.close();
  }

  #drop(c: Conn): void {
    const list = this.#idle.get(c.key);
    const i = list?.indexOf(c) ?? -1;
    if (list && i >= 0) list.splice(i, 1);
  }

  /** Waits for one of the origin's `maxSockets` request slots. */
  async #slot(key: string, signal: AbortSignal): Promise<void> {
    const busy = this.#busy.get(key) ?? 0;
    if (busy < this.maxSockets) {
      this.#busy.set(key, busy + 1);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      let q = this.#queue.get(key);
      if (!q) this.#queue.set(key, (q = []));
      const list = q;
      const go = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = list.indexOf(go);
        if (i >= 0) list.splice(i, 1);
        reject(new PieceError('timeout', 'aborted while waiting for a connection'));
      };
      list.push(go);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #release(key: string): void {
    const next = this.#queue.get(key)?.shift();
    if (next) next(); // the slot passes on
    else {
      const left = (this.#busy.get(key) ?? 1) - 1;
      if (left > 0) this.#busy.set(key, left);
      else this.#busy.delete(key);
    }
  }

  /** Closes every idle connection. */
  close(): void {
    for (const list of [...this.#idle.values()]) for (const c of [...list]) c.close();
    this.#idle.clear();
  }
}
