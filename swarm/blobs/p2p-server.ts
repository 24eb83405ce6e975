// Serving `/lpmos/blob/1.0.0` (wire.ts): pieces, have? answers and manifests from the local piece
// store; on the seed also the tracker's pushes and holders? answers (tracker.ts). Piece uploads
// are capped per requesting peer and in total (BUSY beyond); the requester's peer id is the one noise proved, and the gater admitted only enrolled peers. A handler never
// throws into libp2p: errors abort the one stream.
import type { Connection, Stream } from '@libp2p/interface';
import type { Libp2p } from '@libp2p/interface';
import type { Logger } from '../../core/log.ts';
import type { BlobStats, PieceStore } from './api.ts';
import { hasBit } from './bitfield.ts';
import { deadline } from './deadline.ts';
import { encodeManifest } from './manifest.ts';
import { StreamReader, sendAll } from './stream-io.ts';
import type { UploadLimiter } from './upload-limit.ts';
import type { ClaimAnswer } from './tracker-server.ts';
import { encodeReply, type HoldersReply } from './tracker.ts';
import { PeerNumbers } from './peer-table.ts';
import { frameLength, responseFrameHead, TRACKER_PROTOCOL, TRACKER_PROTOCOL_V1 } from './tracker-session.ts';
import { BLOB_PROTOCOL, decodeRequest, MAX_REQUEST, ReqType, requestLength, responseHeader, Status, type Request } from './wire.ts';

export interface P2pServerDeps {
  libp2p: Libp2p;
  store: PieceStore;
  limiter: UploadLimiter;
  stats: BlobStats;
  /** The have message for these blobs (only those held), encoded. */
  haveFor: (blobs: string[]) => Uint8Array;
  /** The tracker's side (the seed): a pushed have message from this peer (false: not accepted). */
  onPush?: (peer: string, body: Uint8Array) => boolean;
  /** The tracker's side: the holders answer for these blobs, for this requester (tracker.ts; encoded when written). */
  holdersFor?: (peer: string, blobs: string[]) => HoldersReply;
  /**
   * The tracker's side: may this peer take piece `index` from the seed (recorded as its claim when
   * yes)? A promise when the claim waits for a grant to free (tracker-server.ts).
   */
  claim?: (peer: string, sha256: string, index: number, pieces: number) => ClaimAnswer | Promise<ClaimAnswer>;
  /** Serve pieces (false on the seed: it answers have?/manifest only, pieces come from its HTTP). */
  servePieces: boolean;
  log: Logger;
  timeoutMs?: number;
}

/** A tracker answer: status and the holders reply its body carries, if any. */
type Answer = [Status, HoldersReply | undefined];

const empty = new Uint8Array(0);

export class P2pBlobServer {
  #d: P2pServerDeps;

  constructor(deps: P2pServerDeps) {
    this.#d = deps;
  }

  async start(): Promise<void> {
    // Inbound streams per connection: a requester keeps a few pieces in flight per holder; the
    // upload cap refuses more with BUSY, which is cheaper than libp2p resetting the stream.
    await this.#d.libp2p.handle(BLOB_PROTOCOL, (stream, connection) => this.#handle(stream, connection), { maxInboundStreams: 64, maxOutboundStreams: 64 });
    if (this.#d.onPush) {
      await this.#d.libp2p.handle(TRACKER_PROTOCOL, (stream, connection) => this.#session(stream, connection, new PeerNumbers()), { maxInboundStreams: 4, maxOutboundStreams: 4 });
      await this.#d.libp2p.handle(TRACKER_PROTOCOL_V1, (stream, connection) => this.#session(stream, connection), { maxInboundStreams: 4, maxOutboundStreams: 4 });
    }
  }

  async stop(): Promise<void> {
    await this.#d.libp2p.unhandle(BLOB_PROTOCOL).catch(() => undefined);
    if (this.#d.onPush) await this.#d.libp2p.unhandle([TRACKER_PROTOCOL, TRACKER_PROTOCOL_V1]).catch(() => undefined);
  }

  /** The tracker's answer to PUSH, HOLDERS? or CLAIM (undefined: not a tracker request); a promise while a claim waits. */
  #track(peer: string, req: Request): Answer | Promise<Answer> | undefined {
    if (req.type === ReqType.Push) {
      const ok = this.#d.onPush?.(peer, req.body);
      return [ok === undefined ? Status.NotFound : ok ? Status.Ok : Status.BadRequest, undefined];
    }
    if (req.type === ReqType.Claim) {
      const a = this.#d.claim?.(peer, req.sha256, req.index, req.pieces);
      if (a === undefined) return [Status.NotFound, undefined];
      const toAnswer = (x: ClaimAnswer): Answer => [x.ok ? Status.Ok : Status.Busy, x.reply];
      return a instanceof Promise ? a.then(toAnswer) : toAnswer(a);
    }
    if (req.type === ReqType.Holders) return this.#d.holdersFor ? [Status.Ok, this.#d.holdersFor(peer, req.blobs)] : [Status.NotFound, undefined];
    return undefined;
  }

  /**
   * `/lpmos/tracker/1.1.0` and `1.0.0` (tracker-session.ts): tracker requests on one stream. Answers go out in
   * order, except a claim that waits for a grant: its answer follows when it is decided (the
   * requester matches answers by id), and the requests behind it are answered meanwhile. With
   * `numbers` (1.1.0) a reply is encoded against the session's peer numbers as it is written, so
   * the order of the numbering is the order on the wire.
   */
  async #session(stream: Stream, connection: Connection, numbers?: PeerNumbers): Promise<void> {
    const peer = connection.remotePeer.toString();
    const reader = new StreamReader(stream);
    /** Frames are written one answer at a time (a waiting claim's answer must not split another's). */
    let writes: Promise<void> = Promise.resolve();
    const send = (id: number, [status, reply]: Answer): Promise<void> =>
      (writes = writes.then(() => {
        const body = reply ? encodeReply(reply, numbers) : empty;
        return sendAll(stream, body.length > 0 ? [responseFrameHead(id, status, body.length), body] : [responseFrameHead(id, status, 0)]);
      }));
    const waiting = new Set<Promise<void>>();
    try {
      for (;;) {
        const frame = await reader.readFramed(frameLength, 4 + MAX_REQUEST);
        if (!frame) break;
        const id = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).readUInt32BE(0);
        const req = decodeRequest(frame.subarray(4));
        const a = (req && this.#track(peer, req)) ?? [Status.BadRequest, undefined];
        if (!(a instanceof Promise)) {
          await send(id, a);
          continue;
        }
        const p = a.then((x) => send(id, x)).catch((e: unknown) => {
          this.#d.log.debug({ peer, err: (e as Error).message }, 'tracker session ended');
          stream.abort(e as Error);
        });
        waiting.add(p);
        void p.finally(() => waiting.delete(p));
      }
      await Promise.all(waiting);
      await writes;
      await stream.close();
    } catch (e) {
      this.#d.log.debug({ peer, err: (e as Error).message }, 'tracker session ended');
      stream.abort(e as Error);
    }
  }

  async #handle(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    const dl = deadline(undefined, this.#d.timeoutMs ?? 30_000);
    const signal = dl.signal;
    const onAbort = (): void => stream.abort(new Error('blob request timed out'));
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const raw = await new StreamReader(stream).readFramed(requestLength, MAX_REQUEST);
      const req = raw ? decodeRequest(raw) : undefined;
      if (!req) {
        await sendAll(stream, [responseHeader(Status.BadRequest, 0)], signal);
      } else if (req.type === ReqType.Have) {
        const body = this.#d.haveFor(req.blobs);
        await sendAll(stream, [responseHeader(Status.Ok, body.length), body], signal);
      } else if (req.type === ReqType.Push || req.type === ReqType.Claim || req.type === ReqType.Holders) {
        const [status, reply] = await this.#track(peer, req)!;
        const body = reply ? encodeReply(reply) : empty;
        await sendAll(stream, body.length > 0 ? [responseHeader(status, body.length), body] : [responseHeader(status, 0)], signal);
      } else if (req.type === ReqType.Manifest) {
        const s = this.#d.store.get(req.sha256);
        if (!s) await sendAll(stream, [responseHeader(Status.NotFound, 0)], signal);
        else {
          const body = Buffer.from(encodeManifest(s.manifest));
          await sendAll(stream, [responseHeader(Status.Ok, body.length), body], signal);
        }
      } else {
        await this.#piece(stream, peer, req.sha256, req.index, signal);
      }
      await stream.close({ signal });
    } catch (e) {
      this.#d.log.debug({ peer, err: (e as Error).message }, 'blob request failed');
      stream.abort(e as Error);
    } finally {
      dl.done();
      signal.removeEventListener('abort', onAbort);
    }
  }

  async #piece(stream: Stream, peer: string, sha256: string, index: number, signal: AbortSignal): Promise<void> {
    const s = this.#d.store.get(sha256);
    if (!this.#d.servePieces || !s || index >= s.manifest.pieces.length || !hasBit(s.have, index)) {
      await sendAll(stream, [responseHeader(Status.NotFound, 0)], signal);
      return;
    }
    const release = this.#d.limiter.tryAcquire(peer);
    if (!release) {
      this.#d.stats.uploadsRefused++;
      await sendAll(stream, [responseHeader(Status.Busy, 0)], signal);
      return;
    }
    try {
      const bytes = await this.#d.store.getPiece(sha256, index, signal);
      if (!bytes) {
        await sendAll(stream, [responseHeader(Status.NotFound, 0)], signal);
        return;
      }
      await sendAll(stream, [responseHeader(Status.Ok, bytes.length), bytes], signal);
      // The slot is held until the bytes left for the transport, not only our write buffer.
      await stream.close({ signal });
      this.#d.stats.piecesServed++;
      this.#d.stats.bytesServedToPeers += bytes.length;
    } finally {
      release();
    }
  }
}
