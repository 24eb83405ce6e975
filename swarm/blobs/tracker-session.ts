// The agent's tracker requests (PUSH, HOLDERS?, CLAIM) over one long-lived libp2p stream to the
// seed, `/lpmos/tracker/1.0.0`, instead of a stream per request (issue 7, bench:swarm profiles: a
// new stream cost both ends multistream negotiation, yamux stream setup and teardown, several
// noise frames and a peer-store update — at N = 8 the seed spent ~45 % of its main thread in noise
// and yamux and ~18 % in the peer store, the tracker logic itself 5 %). Framing (pure, below):
//   request:  id (u32 BE) + a wire.ts request (self-delimiting)
//   response: id (u32 BE) + status (1 byte) + length (u32 BE) + body
// The seed answers in order, except a CLAIM waiting for a grant to free (tracker-server.ts), whose
// answer follows when decided; ids match answers to requests (and let a requester that gave up on
// one skip its answer). A broken stream fails the requests in flight and the next request opens a
// new one. 1.1.0 numbers the peers its holders answers name (v 3, peer-table.ts): every answer body
// is decoded here, in the order read, also one whose requester gave up, so the numbers stay in step;
// an answer that does not decode ends the session (both tables go with it). A seed that speaks only
// 1.0.0 (v 2 answers) is asked a stream per request (p2p-client.ts).
import type { Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { PieceError } from './piece-error.ts';
import { StreamReader, sendAll } from './stream-io.ts';
import { PeerDirectory } from './peer-table.ts';
import { decodeHolders, type HoldersDecode } from './tracker.ts';
import { decodeResponseHeader, encodeRequest, requestLength, RESPONSE_HEADER, type Request, type Status } from './wire.ts';

/** Sessions with numbered peers (holders answers v 3). */
export const TRACKER_PROTOCOL = '/lpmos/tracker/1.1.0';
/** The first session protocol (v 2 answers, each naming its peers in full): still served for older agents. */
export const TRACKER_PROTOCOL_V1 = '/lpmos/tracker/1.0.0';
/** The largest answer body accepted (a holders answer is at most 1 MiB, tracker.ts). */
export const MAX_SESSION_BODY = 1024 * 1024;

/** A request frame: id + the request. */
export function encodeFrame(id: number, r: Request): Uint8Array {
  const req = encodeRequest(r);
  const b = Buffer.allocUnsafe(4 + req.length);
  b.writeUInt32BE(id >>> 0, 0);
  b.set(req, 4);
  return b;
}

/** For StreamReader.readFramed: the length of the request frame starting with `head`. */
export function frameLength(head: Uint8Array): number | undefined {
  if (head.length < 5) return undefined;
  const n = requestLength(head.subarray(4));
  return n === undefined ? undefined : n < 0 ? -1 : 4 + n;
}

/** A response frame's head: id + status + length. */
export function responseFrameHead(id: number, status: Status, length: number): Uint8Array {
  const b = Buffer.allocUnsafe(4 + RESPONSE_HEADER);
  b.writeUInt32BE(id >>> 0, 0);
  b[4] = status;
  b.writeUInt32BE(length, 5);
  return b;
}

/** A session's answer: status, and the holders answer its body held (a successful decode; none when the body was empty). */
export interface SessionAnswer {
  status: Status;
  holders?: Extract<HoldersDecode, { ok: true }>;
}

interface Waiter {
  resolve: (r: SessionAnswer) => void;
  reject: (e: Error) => void;
}

/** The requesting side: one stream to the tracker, opened on first use and again after a failure. */
export class TrackerSession {
  readonly #libp2p: Libp2p;
  readonly #peer: string;
  #stream: Stream | undefined;
  #opening: Promise<Stream> | undefined;
  #next = 1;
  /** Requests in flight, per stream (a stream that fails fails only its own). */
  #pending = new WeakMap<Stream, Map<number, Waiter>>();
  /** The tracker does not speak the session protocol (an older seed): callers use a stream per request. */
  unsupported = false;
  /** Streams opened, requests sent, bytes of answer bodies received. */
  readonly stats = { opened: 0, requests: 0, answerBytes: 0 };
  readonly #protocol: string;

  /** `protocol`: TRACKER_PROTOCOL_V1 speaks to the seed as an older agent did (tests). */
  constructor(libp2p: Libp2p, peer: string, protocol: string = TRACKER_PROTOCOL) {
    this.#libp2p = libp2p;
    this.#peer = peer;
    this.#protocol = protocol;
  }

  async request(r: Request, signal: AbortSignal): Promise<SessionAnswer> {
    signal.throwIfAborted();
    const stream = await this.#open(signal);
    // Aborted while the stream opened (another request's open, shared): the listener below would come too late.
    signal.throwIfAborted();
    const id = this.#next++ >>> 0;
    this.stats.requests++;
    const pending = this.#pending.get(stream)!;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        pending.delete(id);
        reject(new PieceError('timeout', `tracker ${this.#peer.slice(-8)}: no answer`));
      };
      pending.set(id, {
        resolve: (x) => {
          signal.removeEventListener('abort', onAbort);
          resolve(x);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      signal.addEventListener('abort', onAbort, { once: true });
      sendAll(stream, [encodeFrame(id, r)]).catch((e: unknown) => this.#fail(stream, e as Error));
    });
  }

  #open(signal: AbortSignal): Promise<Stream> {
    if (this.#stream) return Promise.resolve(this.#stream);
    this.#opening ??= (async () => {
      try {
        const stream = await this.#libp2p.dialProtocol(peerIdFromString(this.#peer), this.#protocol, { signal });
        this.stats.opened++;
        this.#stream = stream;
        this.#pending.set(stream, new Map());
        void this.#read(stream);
        return stream;
      } catch (e) {
        if ((e as Error).name === 'UnsupportedProtocolError') this.unsupported = true;
        throw new PieceError(signal.aborted ? 'timeout' : 'failed', `tracker ${this.#peer.slice(-8)}: ${(e as Error).message}`, { cause: e });
      } finally {
        this.#opening = undefined;
      }
    })();
    return this.#opening;
  }

  async #read(stream: Stream): Promise<void> {
    const reader = new StreamReader(stream);
    const directory = new PeerDirectory();
    try {
      for (;;) {
        const head = await reader.read(4 + RESPONSE_HEADER);
        const id = Buffer.from(head.buffer, head.byteOffset, head.byteLength).readUInt32BE(0);
        const h = decodeResponseHeader(head.subarray(4));
        if (!h || h.length > MAX_SESSION_BODY) throw new Error('malformed tracker answer');
        let holders: SessionAnswer['holders'];
        if (h.length > 0) {
          this.stats.answerBytes += h.length;
          const d = decodeHolders(await reader.read(h.length), Date.now(), directory);
          if (!d.ok) throw new Error(`tracker answer: ${d.detail}`);
          holders = d;
        }
        const pending = this.#pending.get(stream);
        const w = pending?.get(id);
        pending?.delete(id);
        w?.resolve({ status: h.status, ...(holders ? { holders } : {}) });
      }
    } catch (e) {
      this.#fail(stream, e as Error);
    }
  }

  #fail(stream: Stream, e: Error): void {
    if (this.#stream === stream) this.#stream = undefined;
    stream.abort(e);
    const err = new PieceError('failed', `tracker ${this.#peer.slice(-8)}: ${e.message}`, { cause: e });
    const pending = this.#pending.get(stream);
    this.#pending.delete(stream);
    for (const w of pending?.values() ?? []) w.reject(err);
  }

  close(): void {
    const s = this.#stream;
    if (s) this.#fail(s, new Error('session closed'));
  }
}
