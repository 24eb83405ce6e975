// The agent's package cache through the swarm (issue 7): a local HTTP server (127.0.0.1, any port)
// that debootstrap uses as its mirror (`http://127.0.0.1:P/mirror/debian`) and apt in the target
// uses as its HTTP proxy (absolute-form requests for the seed's URLs). InRelease/Release pass
// through from the seed's mirror byte for byte (one upstream fetch however many ask at once), and
// the proxy reads them and the Packages indexes as they pass. Package files (pool/…) the Packages
// index names, and index files the Release names (Packages.xz, by-hash/…), are fetched through the
// blob exchange by their SHA256 and size: peers first, the seed's mirror URL (Range per piece) as
// the fallback, every piece and the whole verified — so they are the seed's bytes exactly, and apt
// still checks them against the signed Release. The exchange runs one download per file however
// many ask. Anything else (an index before its Release passed, a file the indexes do not name, a
// conditional request, one the exchange cannot deliver) is passed through from the seed.
import { createServer, request, Agent, type IncomingMessage, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { silentLogger, type Logger } from '../core/log.ts';
import type { BlobExchange, BlobRef } from '../swarm/blobs/api.ts';
import { classifyRequest, type MirrorRequest } from './apt-proxy-codec.ts';
import { PackageIndex } from './apt-proxy-index.ts';
import { emptyProxyCounters, type ProxyCounters } from '../swarm/metrics-record.ts';

export interface AptProxyOptions {
  /** The seed's HTTP base URL (`http://10.0.0.1:8080`): its /mirror/<name>/ is the upstream. */
  seedUrl: string;
  /** The agent's blob exchange; without one every file is passed through. */
  exchange?: BlobExchange;
  /** Default 127.0.0.1, port 0 (any). */
  host?: string;
  port?: number;
  /** How long a package request waits for index loads under way, ms (default 120 000). */
  indexWaitMs?: number;
  logger?: Logger;
}

/** A buffered upstream answer, shared by the requests that joined its fetch. */
interface Buffered {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Response headers passed on from the seed (hop-by-hop ones and the length are not). */
const PASS_HEADERS = ['content-type', 'content-range', 'accept-ranges', 'last-modified', 'etag', 'x-lpmos-cache', 'x-lpmos-sha256'];
/** Request headers passed on to the seed. */
const FORWARD_HEADERS = ['range', 'if-range', 'if-modified-since', 'if-none-match', 'user-agent'];

export class AptProxy {
  readonly counters: ProxyCounters = emptyProxyCounters();
  readonly index: PackageIndex;
  /** Upstream GETs of index files (single-flight: concurrent requests share one). */
  indexFetches = 0;
  readonly #o: AptProxyOptions;
  readonly #log: Logger;
  readonly #seed: URL;
  /** The seed URL's path prefix (usually empty) + `/mirror/`. */
  readonly #mirrorPrefix: string;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 16 });
  readonly #flights = new Map<string, Promise<Buffered>>();
  #server: Server | undefined;
  #port = 0;

  constructor(o: AptProxyOptions) {
    this.#o = o;
    this.#log = o.logger ?? silentLogger();
    this.#seed = new URL(o.seedUrl);
    this.#mirrorPrefix = `${this.#seed.pathname.replace(/\/+$/, '')}/mirror/`;
    this.index = new PackageIndex({ fetchFile: (m, p, ref) => this.#fetchIndexFile(m, p, ref), log: this.#log });
  }

  /** Base URL that stands in for the seed URL (`http://127.0.0.1:P`): `<url>/mirror/debian` is a mirror. */
  get url(): string {
    return `http://${this.#o.host ?? '127.0.0.1'}:${this.#port}${this.#seed.pathname.replace(/\/+$/, '')}`;
  }

  /** What apt is given as its HTTP proxy. */
  get proxyUrl(): string {
    return `http://${this.#o.host ?? '127.0.0.1'}:${this.#port}/`;
  }

  async start(): Promise<void> {
    const server = createServer({ requestTimeout: 0, keepAliveTimeout: 30_000 }, (req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port ?? 0, this.#o.host ?? '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    this.#log.info({ url: this.url, swarm: this.#o.exchange !== undefined }, 'apt proxy listening');
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    this.#agent.destroy();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counters.requests++;
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return end(res, 405, 'only GET and HEAD');
      const path = this.#localPath(req.url ?? '/');
      if (path === undefined) return end(res, 403, 'this proxy forwards only to the seed');
      if (!path.startsWith(this.#mirrorPrefix)) return end(res, 404, 'not a mirror path');
      const rest = path.slice(this.#mirrorPrefix.length);
      const slash = rest.indexOf('/');
      if (slash <= 0) return end(res, 404, 'not a mirror path');
      let mirror: string;
      let what: MirrorRequest;
      try {
        mirror = decodeURIComponent(rest.slice(0, slash));
        what = classifyRequest(decodeURIComponent(rest.slice(slash + 1)));
      } catch {
        return end(res, 400, 'bad percent-encoding');
      }
      const plain = req.method === 'GET' && !FORWARD_HEADERS.some((h) => h !== 'user-agent' && req.headers[h] !== undefined);
      if (req.method === 'GET' && this.#o.exchange && (await this.#fromSwarm(mirror, what, path, req, res))) return;
      if (what.kind !== 'package' && what.kind !== 'other' && plain) return await this.#sharedIndex(mirror, what, path, res);
      await this.#passThrough(mirror, what, path, req, res);
    } catch (e) {
      this.#log.warn({ url: req.url, err: (e as Error).message }, 'apt proxy request failed');
      if (!res.headersSent) end(res, 502, `seed: ${(e as Error).message}`);
      else res.destroy();
    }
  }

  /** The seed-relative path of a request: origin-form as is, absolute-form only for the seed's origin. */
  #localPath(raw: string): string | undefined {
    if (raw.startsWith('/')) return new URL(raw, 'http://x').pathname;
    try {
      const u = new URL(raw);
      return u.origin === this.#seed.origin ? u.pathname : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A file through the blob exchange, by the hash the index gives: a package file the Packages index
   * names, or an index file the suite's Release names (Packages.xz, by-hash/…: the same bytes the seed
   * has, checked against the Release apt verifies). False when it must be passed through instead.
   */
  async #fromSwarm(mirror: string, what: MirrorRequest, path: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const ex = this.#o.exchange!;
    let ref: BlobRef | undefined;
    if (what.kind === 'package') ref = await this.index.waitFor(mirror, what.path, this.#o.indexWaitMs ?? 120_000);
    else if (what.kind === 'packages' || what.kind === 'other-index') ref = this.index.indexRef(mirror, what.path);
    if (!ref) return false;
    const range = parseRange(req.headers.range, ref.size);
    if (range === 'invalid') {
      end(res, 416, 'bad range', { 'Content-Range': `bytes */${ref.size}` });
      return true;
    }
    let unpin: () => void;
    try {
      // No signal: a client that goes away does not abort the download others may have joined.
      ({ unpin } = await ex.fetch(ref, { seedUrl: `${this.#seed.origin}${path}` }));
    } catch (e) {
      this.counters.swarmFailures++;
      this.#log.warn({ path: what.path, err: (e as Error).message }, 'not fetched through the swarm; passing it through from the seed');
      return false;
    }
    try {
      const headers: Record<string, string> = { 'Content-Type': what.kind === 'package' ? 'application/vnd.debian.binary-package' : 'application/octet-stream', 'Accept-Ranges': 'bytes', 'X-Lpmos-Sha256': ref.sha256 };
      if (range) {
        res.writeHead(206, { ...headers, 'Content-Length': String(range.end - range.start), 'Content-Range': `bytes ${range.start}-${range.end - 1}/${ref.size}` });
      } else {
        res.writeHead(200, { ...headers, 'Content-Length': String(ref.size) });
      }
      await pipeline(ex.store.read(ref.sha256, range ?? { start: 0, end: ref.size }), res);
      if (what.kind === 'package') this.counters.packagesFromSwarm++;
      else this.counters.indexFilesFromSwarm++;
      if (what.kind === 'packages') {
        const chunks: Buffer[] = [];
        for await (const c of ex.store.read(ref.sha256)) chunks.push(c as Buffer);
        this.#learn(mirror, what, { status: 200, headers: {}, body: Buffer.concat(chunks) });
      }
    } finally {
      unpin();
    }
    return true;
  }

  /** An index file, one upstream GET for all who ask at once; the Release and Packages are read on the way. */
  async #sharedIndex(mirror: string, what: MirrorRequest, path: string, res: ServerResponse): Promise<void> {
    let flight = this.#flights.get(path);
    if (!flight) {
      flight = this.#getBuffered(path).then((b) => {
        this.#learn(mirror, what, b);
        return b;
      });
      const f = flight;
      this.#flights.set(path, f);
      void f.finally(() => this.#flights.delete(path)).catch(() => undefined);
    }
    const b = await flight;
    this.counters.passedThrough++;
    this.counters.passThroughBytes += b.body.length;
    res.writeHead(b.status, { ...b.headers, 'Content-Length': String(b.body.length) });
    res.end(b.body);
  }

  #learn(mirror: string, what: MirrorRequest, b: Buffered): void {
    if (b.status !== 200) return;
    if (what.kind === 'release') this.index.sawRelease(mirror, what.suite, b.body);
    else if (what.kind === 'packages' && this.index.isPackages(mirror, what, b.body)) this.index.sawPackages(mirror, what, b.body);
  }

  async #getBuffered(path: string): Promise<Buffered> {
    this.indexFetches++;
    const up = await this.#upstream(path, 'GET', {});
    const chunks: Buffer[] = [];
    for await (const c of up) chunks.push(c as Buffer);
    if (up.readableAborted || (up.headers['content-length'] !== undefined && Number(up.headers['content-length']) !== chunks.reduce((n, c) => n + c.length, 0))) {
      throw new Error(`${path}: the seed's answer broke off`);
    }
    return { status: up.statusCode ?? 502, headers: passHeaders(up.headers), body: Buffer.concat(chunks) };
  }

  /** Streams the seed's answer as it is (conditional and Range requests, HEAD, unindexed packages). */
  async #passThrough(mirror: string, what: MirrorRequest, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const fwd: Record<string, string> = {};
    for (const h of FORWARD_HEADERS) {
      const v = req.headers[h];
      if (typeof v === 'string') fwd[h] = v;
    }
    const up = await this.#upstream(path, req.method ?? 'GET', fwd);
    const len = up.headers['content-length'];
    res.writeHead(up.statusCode ?? 502, { ...passHeaders(up.headers), ...(len !== undefined ? { 'Content-Length': len } : {}) });
    // A full index that passes this way (e.g. a conditional GET answered 200) is read too.
    const keep = up.statusCode === 200 && req.method === 'GET' && (what.kind === 'release' || what.kind === 'packages') && !fwd.range;
    const chunks: Buffer[] = [];
    let bytes = 0;
    up.on('data', (c: Buffer) => {
      bytes += c.length;
      if (keep) chunks.push(c);
    });
    this.counters.passedThrough++;
    try {
      await pipeline(up, res);
    } finally {
      this.counters.passThroughBytes += bytes;
    }
    if (keep) this.#learn(mirror, what, { status: 200, headers: {}, body: Buffer.concat(chunks) });
  }

  #upstream(path: string, method: string, headers: Record<string, string>): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const r = request(`${this.#seed.origin}${path}`, { method, headers, agent: this.#agent });
      r.on('response', resolve);
      r.on('error', reject);
      r.end();
    });
  }

  /** An index file the proxy needs itself (Packages.gz beside a Packages.xz): through the exchange when its hash is known. */
  async #fetchIndexFile(mirror: string, path: string, ref: BlobRef | undefined): Promise<Uint8Array> {
    const full = `${this.#mirrorPrefix}${mirror}/${path}`;
    const ex = this.#o.exchange;
    if (ref && ex) {
      // Bounded: package requests wait for this load, and a stuck one must not hold them all.
      const r = await ex.fetch(ref, { seedUrl: `${this.#seed.origin}${full}`, signal: AbortSignal.timeout(this.#o.indexWaitMs ?? 120_000) });
      try {
        const chunks: Buffer[] = [];
        for await (const c of ex.store.read(ref.sha256)) chunks.push(c as Buffer);
        return Buffer.concat(chunks);
      } finally {
        r.unpin();
      }
    }
    const b = await this.#getBuffered(full);
    if (b.status !== 200) throw new Error(`${full}: the seed answered ${b.status}`);
    this.counters.passThroughBytes += b.body.length;
    return b.body;
  }
}

function passHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of PASS_HEADERS) {
    const v = h[k];
    if (typeof v === 'string') out[k] = v;
  }
  return out;
}

function end(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = `${text}\n`;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

/** One `bytes=a-b` / `bytes=a-` / `bytes=-n` range (what apt sends to resume); undefined for none. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined | 'invalid' {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // several ranges or another unit: the whole file
  let start: number;
  let endIncl: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    endIncl = size - 1;
  } else {
    start = Number(m[1]);
    endIncl = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || endIncl < start) return 'invalid';
  return { start, end: endIncl + 1 };
}
