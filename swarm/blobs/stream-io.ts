// Reading and writing a libp2p 3 stream (a MessageStream: async-iterable chunks, `send` with
// backpressure). Exact-length reads copy each received chunk once, into the caller's buffer.
import type { Stream } from '@libp2p/interface';
import { ErrorCode, LpmosError } from '../../core/errors.ts';

export class StreamReader {
  #it: AsyncIterator<Uint8Array | Iterable<Uint8Array>>;
  #left: Uint8Array[] = [];

  constructor(stream: Stream) {
    this.#it = (stream as AsyncIterable<Uint8Array | Iterable<Uint8Array>>)[Symbol.asyncIterator]();
  }

  /** The next chunk (leftover first), or undefined at the end of the stream. */
  async #next(): Promise<Uint8Array | undefined> {
    for (;;) {
      const l = this.#left.shift();
      if (l) return l;
      const r = await this.#it.next();
      if (r.done) return undefined;
      if (r.value instanceof Uint8Array) {
        if (r.value.length > 0) return r.value;
      } else {
        for (const b of r.value) if (b.length > 0) this.#left.push(b);
      }
    }
  }

  /** Fills `into` completely; E_UNAVAILABLE when the stream ends first. */
  async readInto(into: Uint8Array): Promise<void> {
    let off = 0;
    while (off < into.length) {
      const c = await this.#next();
      if (!c) throw new LpmosError(ErrorCode.Unavailable, `stream ended after ${off} of ${into.length} bytes`);
      const take = Math.min(c.length, into.length - off);
      into.set(c.subarray(0, take), off);
      off += take;
      if (take < c.length) this.#left.unshift(c.subarray(take));
    }
  }

  async read(n: number): Promise<Uint8Array> {
    const b = new Uint8Array(n);
    await this.readInto(b);
    return b;
  }

  /** Reads until `length(head)` says how long the whole is (undefined: more bytes needed; <0: invalid). */
  async readFramed(length: (head: Uint8Array) => number | undefined, max: number): Promise<Uint8Array | undefined> {
    let buf = new Uint8Array(0);
    for (;;) {
      const want = length(buf);
      if (want !== undefined) {
        if (want < 0 || want > max) return undefined;
        if (buf.length >= want) {
          if (buf.length > want) this.#left.unshift(buf.subarray(want));
          return buf.subarray(0, want);
        }
      }
      const c = await this.#next();
      if (!c) return undefined;
      const n = new Uint8Array(buf.length + c.length);
      n.set(buf);
      n.set(c, buf.length);
      buf = n;
      if (buf.length > max + 64 * 1024) return undefined;
    }
  }
}

/** Sends with backpressure: waits for `drain` when the stream's write buffer is full. */
export async function sendAll(stream: Stream, chunks: Uint8Array[], signal?: AbortSignal): Promise<void> {
  for (const c of chunks) {
    if (!stream.send(c)) await stream.onDrain(signal ? { signal } : {});
  }
}
