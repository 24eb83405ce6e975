// The requesting side of `/lpmos/blob/1.0.0`: one stream per request, dialling the holder by its
// proven peer id at the addresses it announced when no connection is open yet.
import type { Libp2p, PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { MAX_PIECE_SIZE } from './manifest.ts';
import { PieceError } from './piece-error.ts';
import { StreamReader } from './stream-io.ts';
import { BLOB_PROTOCOL, decodeResponseHeader, encodeRequest, RESPONSE_HEADER, Status, type Request } from './wire.ts';

export interface PeerTarget {
  peerId: string;
  addrs: string[];
}

async function known(libp2p: Libp2p, t: PeerTarget): Promise<PeerId> {
  const id = peerIdFromString(t.peerId);
  if (libp2p.getConnections(id).length === 0 && t.addrs.length > 0) {
    const addrs = t.addrs.flatMap((a) => {
      try {
        return [multiaddr(a)];
      } catch {
        return [];
      }
    });
    await libp2p.peerStore.merge(id, { multiaddrs: addrs });
  }
  return id;
}

/** Sends one request and reads the response body (at most `max` bytes; `into` when given, of exactly its length). */
async function call(libp2p: Libp2p, t: PeerTarget, req: Request, max: number, signal: AbortSignal, into?: Uint8Array): Promise<Uint8Array> {
  let stream;
  try {
    stream = await libp2p.dialProtocol(await known(libp2p, t), BLOB_PROTOCOL, { signal });
  } catch (e) {
    throw new PieceError(signal.aborted ? 'timeout' : 'failed', `peer ${t.peerId.slice(-8)}: ${(e as Error).message}`, { cause: e });
  }
  const onAbort = (): void => stream.abort(new Error('blob request aborted'));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    stream.send(encodeRequest(req));
    await stream.close({ signal });
    const reader = new StreamReader(stream);
    const head = decodeResponseHeader(await reader.read(RESPONSE_HEADER));
    if (!head) throw new PieceError('failed', `peer ${t.peerId.slice(-8)}: malformed response`);
    if (head.status === Status.Busy) throw new PieceError('busy', `peer ${t.peerId.slice(-8)} is busy`);
    if (head.status === Status.NotFound) throw new PieceError('not-found', `peer ${t.peerId.slice(-8)} does not have it`);
    if (head.status !== Status.Ok) throw new PieceError('failed', `peer ${t.peerId.slice(-8)} refused the request`);
    if (head.length > max || (into && head.length !== into.length)) throw new PieceError('bad-bytes', `peer ${t.peerId.slice(-8)} announced ${head.length} bytes`);
    const body = into ?? new Uint8Array(head.length);
    await reader.readInto(body);
    return body;
  } catch (e) {
    stream.abort(e as Error);
    if (e instanceof PieceError) throw e;
    throw new PieceError(signal.aborted ? 'timeout' : 'failed', `peer ${t.peerId.slice(-8)}: ${(e as Error).message}`, { cause: e });
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

export function p2pPiece(libp2p: Libp2p, t: PeerTarget, sha256: string, index: number, length: number, signal: AbortSignal): Promise<Uint8Array> {
  return call(libp2p, t, { type: 1, sha256, index }, MAX_PIECE_SIZE, signal, new Uint8Array(length));
}

export function p2pHave(libp2p: Libp2p, t: PeerTarget, blobs: string[], signal: AbortSignal): Promise<Uint8Array> {
  return call(libp2p, t, { type: 2, blobs }, 64 * 1024, signal);
}

export function p2pManifest(libp2p: Libp2p, t: PeerTarget, sha256: string, signal: AbortSignal): Promise<Uint8Array> {
  // 16 M pieces × 67 bytes of JSON each is the most a valid manifest can be; 8 MiB is far beyond any real one.
  return call(libp2p, t, { type: 3, sha256 }, 8 * 1024 * 1024, signal);
}

/** Tells the tracker what we hold (a have message). */
export async function p2pPush(libp2p: Libp2p, t: PeerTarget, body: Uint8Array, signal: AbortSignal): Promise<void> {
  await call(libp2p, t, { type: 4, body }, 0, signal);
}

/** Asks the tracker who holds these blobs (tracker.ts answer). */
export function p2pHolders(libp2p: Libp2p, t: PeerTarget, blobs: string[], signal: AbortSignal): Promise<Uint8Array> {
  return call(libp2p, t, { type: 5, blobs }, 1024 * 1024, signal);
}

/** Asks the tracker whether we may take this piece from the seed (false: someone else fetches or holds it). */
export async function p2pClaim(libp2p: Libp2p, t: PeerTarget, sha256: string, index: number, pieces: number, signal: AbortSignal): Promise<boolean> {
  try {
    await call(libp2p, t, { type: 6, sha256, index, pieces }, 0, signal);
    return true;
  } catch (e) {
    if (e instanceof PieceError && e.reason === 'busy') return false;
    throw e;
  }
}
