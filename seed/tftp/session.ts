// One read transfer on its own socket (RFC 1350 §4: the server's transfer ID is a fresh port).
// The socket is connected to the client, so the kernel drops datagrams from any other TID. The
// decisions come from transfer.ts; this file only reads blocks, sends packets and runs timers.
import type { Socket } from 'node:dgram';
import type { Logger } from '../../core/log.ts';
import type { FileSource } from './files.ts';
import type { TftpMetrics } from './metrics.ts';
import type { Negotiated } from './options.ts';
import { decode, encodeError, encodeOack, TftpErrorCode } from './packet.ts';
import { begin, onAck, onTimeout, wireBlock, type Step, type TransferState } from './transfer.ts';

/** Bytes read from the file at a time; a chunk always holds at least one whole window. */
const CHUNK_BYTES = 256 * 1024;

export interface SessionInit {
  socket: Socket;
  client: { address: string; port: number };
  file: string;
  source: FileSource;
  negotiated: Negotiated;
  retries: number;
  deadlineMs: number;
  log: Logger;
  metrics: TftpMetrics;
  signal: AbortSignal;
  /** Called synchronously when the transfer ends, before its socket closes. */
  onEnd?: () => void;
}

/** `superseded`: the client sent a different request from the same port, so it gave this one up. */
export type SessionResult = 'completed' | 'timeout' | 'deadline' | 'client-error' | 'socket-error' | 'read-error' | 'shutdown' | 'superseded';

export class Session {
  readonly #i: SessionInit;
  #state!: TransferState;
  readonly #chunkBlocks: number;
  readonly #chunks = new Map<number, Buffer | Promise<Buffer>>();
  #retransmitTimer: NodeJS.Timeout | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #ended = false;
  /** Bumped on every step, so an asynchronous send of a superseded window stops. */
  #generation = 0;
  /** Chunk holding the start of the last window sent. */
  #windowChunk = -1;
  readonly #started = process.hrtime.bigint();
  readonly #done: Promise<SessionResult>;
  #resolve!: (r: SessionResult) => void;
  readonly #onAbort = (): void => this.#fail('shutdown', TftpErrorCode.NotDefined, 'server shutting down');

  constructor(init: SessionInit) {
    this.#i = init;
    const { blksize, windowsize } = init.negotiated;
    this.#chunkBlocks = Math.max(windowsize, Math.ceil(CHUNK_BYTES / blksize));
    this.#done = new Promise((r) => (this.#resolve = r));
  }

  /** Starts sending; resolves when the transfer has ended (never rejects). */
  run(): Promise<SessionResult> {
    const { socket, negotiated, source, signal, deadlineMs } = this.#i;
    if (signal.aborted) {
      this.#onAbort();
      return this.#done;
    }
    signal.addEventListener('abort', this.#onAbort, { once: true });
    socket.on('message', (msg) => this.#onMessage(msg));
    // A connected UDP socket reports ICMP "port unreachable" as an error: the client is gone.
    socket.on('error', (e) => {
      this.#i.log.debug({ err: e, client: this.#i.client }, 'tftp transfer socket error');
      this.#end('socket-error');
    });
    this.#deadlineTimer = setTimeout(() => this.#fail('deadline', TftpErrorCode.NotDefined, 'transfer deadline exceeded'), deadlineMs);
    this.#retransmitTimer = setTimeout(() => this.#onTimeout(), negotiated.timeoutMs);
    const t = begin(source.size, negotiated.blksize, negotiated.windowsize, negotiated.reply.size > 0);
    this.#state = t.state;
    this.#do(t.step);
    return this.#done;
  }

  /** Ends the transfer without a word to the client (see SessionResult `superseded`). */
  cancel(): void {
    this.#end('superseded');
  }

  #onMessage(msg: Buffer): void {
    if (this.#ended) return;
    // Fast path: an ACK is 4 bytes, opcode 4.
    if (msg.length >= 4 && msg[0] === 0 && msg[1] === 4) {
      const t = onAck(this.#state, msg.readUInt16BE(2));
      this.#state = t.state;
      if (t.ack === 'progress') this.#retransmitTimer?.refresh();
      this.#do(t.step);
      return;
    }
    const p = decode(msg);
    if (p.op === 'error') {
      // Error 8 after our OACK is a client declining the options, e.g. UEFI's tsize probe: not a fault.
      this.#i.log.debug({ client: this.#i.client, file: this.#i.file, code: p.code, message: p.message }, 'tftp client ended the transfer');
      this.#end('client-error', { code: p.code, message: p.message });
      return;
    }
    this.#i.metrics.dropped++;
  }

  #onTimeout(): void {
    if (this.#ended) return;
    const t = onTimeout(this.#state, this.#i.retries);
    this.#state = t.state;
    if (t.step.kind === 'giveup') {
      this.#fail('timeout', TftpErrorCode.NotDefined, 'timed out waiting for ACK');
      return;
    }
    if (t.step.kind === 'oack') this.#i.metrics.retransmits++;
    else if (t.step.kind === 'data') this.#i.metrics.retransmits += t.step.to - t.step.from + 1;
    this.#retransmitTimer?.refresh();
    this.#do(t.step);
  }

  #do(step: Step): void {
    switch (step.kind) {
      case 'oack':
        this.#send(encodeOack(this.#i.negotiated.reply));
        return;
      case 'data':
        this.#sendWindow(step.from, step.to);
        return;
      case 'done':
        this.#end('completed');
        return;
      case 'giveup':
      case 'none':
        return;
    }
  }

  #send(buf: Buffer | Buffer[]): void {
    this.#i.socket.send(buf, (err) => {
      if (err && !this.#ended) this.#i.log.debug({ err, client: this.#i.client }, 'tftp send failed');
    });
  }

  #chunkOf(index: number): number {
    return Math.floor((index - 1) / this.#chunkBlocks);
  }

  /**
   * Reads chunk c and lays it out as ready DATA packets (4-byte header + block, each in a slot of
   * blksize + 4 bytes), so the hot path sends one buffer per block without building anything.
   */
  #loadChunk(c: number): Buffer | Promise<Buffer> {
    let chunk = this.#chunks.get(c);
    if (chunk === undefined) {
      const { blksize } = this.#state;
      const bytes = this.#chunkBlocks * blksize;
      const p = this.#i.source.read(c * bytes, (c + 1) * bytes).then((data) => {
        const blocks = Math.min(this.#chunkBlocks, this.#state.totalBlocks - c * this.#chunkBlocks);
        const packets = Buffer.alloc(blocks * (blksize + 4)); // zeroed: a file that shrank mid-transfer sends zeros, not old memory
        for (let j = 0; j < blocks; j++) {
          const slot = j * (blksize + 4);
          packets.writeUInt16BE(3, slot);
          packets.writeUInt16BE(wireBlock(c * this.#chunkBlocks + j + 1), slot + 2);
          data.copy(packets, slot + 4, j * blksize, Math.min((j + 1) * blksize, data.length));
        }
        return packets;
      });
      chunk = p;
      this.#chunks.set(c, p);
      p.then(
        (buf) => {
          if (this.#chunks.get(c) === p) this.#chunks.set(c, buf);
        },
        () => undefined, // reported by the awaiting sender
      );
    }
    return chunk;
  }

  #sendWindow(from: number, to: number): void {
    const first = this.#chunkOf(from);
    const last = this.#chunkOf(to);
    if (first !== this.#windowChunk) {
      // Entering a new chunk: drop what no retransmission can need and read the next one ahead.
      this.#windowChunk = first;
      for (const c of this.#chunks.keys()) if (c < first) this.#chunks.delete(c);
      const ahead = last + 1;
      if (ahead <= this.#chunkOf(this.#state.totalBlocks) && !this.#chunks.has(ahead)) {
        const p = this.#loadChunk(ahead);
        if (!Buffer.isBuffer(p)) p.catch(() => undefined); // reported when a window needs it
      }
    }
    const a = this.#loadChunk(first);
    const b = last === first ? a : this.#loadChunk(last);
    if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) {
      this.#sendBlocks(from, to);
      return;
    }
    const gen = ++this.#generation;
    Promise.all([a, b]).then(
      () => {
        if (gen === this.#generation && !this.#ended) this.#sendBlocks(from, to);
      },
      (e: unknown) => {
        this.#i.log.warn({ err: e, file: this.#i.file }, 'tftp read failed');
        this.#fail('read-error', TftpErrorCode.NotDefined, 'read error');
      },
    );
  }

  #sendBlocks(from: number, to: number): void {
    this.#generation++;
    const { blksize, totalBlocks } = this.#state;
    const lastLength = this.#i.source.size - (totalBlocks - 1) * blksize;
    for (let i = from; i <= to; i++) {
      const c = this.#chunkOf(i);
      const chunk = this.#chunks.get(c) as Buffer;
      const slot = (i - 1 - c * this.#chunkBlocks) * (blksize + 4);
      // No callback: a failed send surfaces as the socket's 'error' event, which ends the transfer.
      this.#i.socket.send(chunk.subarray(slot, slot + 4 + (i === totalBlocks ? lastLength : blksize)));
    }
  }

  #fail(result: SessionResult, code: TftpErrorCode, message: string): void {
    if (this.#ended) return;
    this.#send(encodeError(code, message));
    this.#i.metrics.errors++;
    this.#end(result, { code, message });
  }

  #end(result: SessionResult, error?: { code: number; message: string }): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#retransmitTimer);
    clearTimeout(this.#deadlineTimer);
    this.#i.signal.removeEventListener('abort', this.#onAbort);
    this.#chunks.clear();
    this.#i.onEnd?.();
    recordEnd(this.#i, result, Number(process.hrtime.bigint() - this.#started) / 1e9, this.#state.acked, error);
    // Let a final ERROR leave before the socket closes.
    setImmediate(() => {
      this.#i.socket.close();
      this.#i.source.close().catch(() => undefined);
      this.#resolve(result);
    });
  }
}

/** Metrics and the one JSON log line of a finished transfer (both engines). */
export function recordEnd(
  i: Pick<SessionInit, 'metrics' | 'negotiated' | 'source' | 'file' | 'client' | 'log'>,
  result: SessionResult,
  seconds: number,
  acked: number,
  error?: { code: number; message: string },
  awake?: { waits: number; caught: number; runs: { awake: number; asleep: number } },
): void {
  const { metrics, negotiated, source, file, client, log } = i;
  const bytes = result === 'completed' ? source.size : Math.min(source.size, acked * negotiated.blksize);
  if (result === 'completed') {
    metrics.completed++;
    metrics.bytes += source.size;
  } else metrics.failed++;
  // One JSON line per finished transfer (pino writes JSON when not on a terminal).
  log.info(
    { event: 'tftp.transfer', client: `${client.address}:${client.port}`, file, bytes, seconds: Math.round(seconds * 1e6) / 1e6, blksize: negotiated.blksize, windowsize: negotiated.windowsize, result, ...(awake ? { awake } : {}), ...(error ? { error } : {}) },
    'tftp transfer finished',
  );
}
