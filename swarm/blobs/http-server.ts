// The holder's HTTP piece server: GET|HEAD /blobs/<sha256> with a Range of present pieces (206), or
// the whole of a complete blob (200). Peers pull pieces from it (cheaper per byte than a libp2p
// stream, see README), and the seed's boot-storm redirect will send iPXE here. Uploads are capped
// per client address and in total (503 + Retry-After beyond). HTTP is not behind the libp2p gater:
// it serves content-addressed blobs only (the bytes of a known sha256), never a listing.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../../core/log.ts';
import type { BlobStats, PieceStore } from './api.ts';
import { hasBit } from './bitfield.ts';
import { parseRange } from './http-range.ts';
import type { UploadLimiter } from './upload-limit.ts';

const PATH = /^\/blobs\/([0-9a-f]{64})$/;

export interface HttpServerDeps {
  store: PieceStore;
  limiter: UploadLimiter;
  stats: BlobStats;
  log: Logger;
}

export class HttpBlobServer {
  #d: HttpServerDeps;
  #server: Server | undefined;
  #url: string | undefined;

  constructor(deps: HttpServerDeps) {
    this.#d = deps;
  }

  /** Base URL (`http://host:port/blobs`) once listening. */
  get url(): string | undefined {
    return this.#url;
  }

  async start(host: string, port = 0): Promise<string> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((e: unknown) => {
        this.#d.log.debug({ err: (e as Error).message }, 'blob http request failed');
        res.destroy();
      });
    });
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.#server = server;
    const a = server.address() as AddressInfo;
    this.#url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/blobs`;
    return this.#url;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const m = PATH.exec(new URL(req.url ?? '/', 'http://x').pathname);
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !m) {
      res.writeHead(m ? 405 : 404, { 'Content-Length': 0 }).end();
      return;
    }
    const s = this.#d.store.get(m[1]!);
    if (!s) {
      res.writeHead(404, { 'Content-Length': 0 }).end();
      return;
    }
    const size = s.manifest.size;
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': 0 }).end();
      return;
    }
    const { start, end } = range ?? { start: 0, end: size };
    const ps = s.manifest.pieceSize;
    for (let i = Math.floor(start / ps); end > start && i <= Math.floor((end - 1) / ps); i++) {
      if (!hasBit(s.have, i)) {
        res.writeHead(404, { 'Content-Length': 0 }).end();
        return;
      }
    }
    const release = this.#d.limiter.tryAcquire(req.socket.remoteAddress ?? '?');
    if (!release) {
      this.#d.stats.uploadsRefused++;
      res.writeHead(503, { 'Retry-After': '1', 'Content-Length': 0 }).end();
      return;
    }
    try {
      const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Content-Length': end - start, 'Accept-Ranges': 'bytes', ETag: `"${s.manifest.sha256}"` };
      if (range) headers['Content-Range'] = `bytes ${start}-${end - 1}/${size}`;
      res.writeHead(range ? 206 : 200, headers);
      if (req.method === 'HEAD' || end === start) {
        res.end();
        return;
      }
      await pipeline(this.#d.store.read(s.manifest.sha256, { start, end }), res);
      this.#d.stats.piecesServed++;
      this.#d.stats.bytesServedToPeers += end - start;
    } finally {
      release();
    }
  }
}
