// The seed's apt mirror: a pull-through cache of upstream Debian/Ubuntu mirrors. Index files are
// kept byte for byte as fetched (apt verifies the signed Release itself) and revalidated after a
// while; immutable files (pool/, by-hash/) are stored once by sha256. Concurrent requests for one
// file cause one upstream fetch. With the upstream gone (air gap), what is cached is still served.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { classifyMirrorPath } from './paths.ts';

export interface MirrorOptions {
  /** Cache directory (under the seed's state dir). */
  dir: string;
  /** Upstreams by name: `debian` → `http://deb.debian.org/debian`. No upstream = serve the cache only. */
  upstreams: Record<string, string>;
  /** Index files younger than this are served without asking upstream (default 300 s). */
  indexMaxAgeSeconds?: number;
  logger: Logger;
  fetch?: typeof fetch;
}

export interface MirrorFile {
  file: string;
  size: number;
  sha256?: string;
  /** hit: from cache; miss: fetched now; stale: cached copy served because the upstream failed. */
  source: 'hit' | 'miss' | 'stale';
}

interface IndexMeta {
  fetchedAt: number;
  lastModified?: string;
  etag?: string;
}

export interface MirrorStats {
  hits: number;
  misses: number;
  stale: number;
  upstreamBytes: number;
}

export class MirrorCache {
  readonly stats: MirrorStats = { hits: 0, misses: 0, stale: 0, upstreamBytes: 0 };
  readonly #o: MirrorOptions;
  readonly #inflight = new Map<string, Promise<MirrorFile>>();
  readonly #fetch: typeof fetch;

  constructor(o: MirrorOptions) {
    this.#o = o;
    this.#fetch = o.fetch ?? fetch;
  }

  get upstreams(): Record<string, string> {
    return { ...this.#o.upstreams };
  }

  blobPath(sha256: string): string {
    return join(this.#o.dir, 'blobs', 'sha256', sha256.slice(0, 2), sha256);
  }

  /** The file for `<name>/<path>`, fetching it once however many ask at the same time. */
  async open(name: string, rawPath: string, signal?: AbortSignal): Promise<MirrorFile> {
    if (!/^[A-Za-z0-9._-]+$/.test(name) || name === '..' || name === '.') throw new LpmosError(ErrorCode.NotFound, `no mirror named "${name}"`);
    const { path, kind } = classifyMirrorPath(rawPath);
    const key = `${name}/${path}`;
    const running = this.#inflight.get(key);
    if (running) return running;
    const p = (kind === 'immutable' ? this.#immutable(name, path, signal) : this.#index(name, path, signal)).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  #upstreamUrl(name: string, path: string): string | undefined {
    const base = this.#o.upstreams[name];
    return base ? `${base.replace(/\/+$/, '')}/${path}` : undefined;
  }

  async #immutable(name: string, path: string, signal?: AbortSignal): Promise<MirrorFile> {
    const ref = join(this.#o.dir, name, 'paths', path);
    const known = await readFile(ref, 'utf8').catch(() => undefined);
    if (known) {
      const st = await stat(this.blobPath(known)).catch(() => undefined);
      if (st) {
        this.stats.hits++;
        return { file: this.blobPath(known), size: st.size, sha256: known, source: 'hit' };
      }
    }
    const got = await this.#download(name, path, undefined, signal);
    if (got === 'not-modified') throw new LpmosError(ErrorCode.Internal, 'unexpected 304 without a cached copy');
    const blob = this.blobPath(got.sha256);
    await mkdir(dirname(blob), { recursive: true });
    await rename(got.tmp, blob);
    await mkdir(dirname(ref), { recursive: true });
    await writeFile(`${ref}.tmp`, got.sha256);
    await rename(`${ref}.tmp`, ref);
    this.stats.misses++;
    return { file: blob, size: got.size, sha256: got.sha256, source: 'miss' };
  }

  async #index(name: string, path: string, signal?: AbortSignal): Promise<MirrorFile> {
    const file = join(this.#o.dir, name, 'index', path);
    const metaFile = `${file}.lpmos-meta.json`;
    const meta = await readFile(metaFile, 'utf8').then((t) => JSON.parse(t) as IndexMeta).catch(() => undefined);
    const st = meta ? await stat(file).catch(() => undefined) : undefined;
    const maxAge = (this.#o.indexMaxAgeSeconds ?? 300) * 1000;
    if (meta && st && Date.now() - meta.fetchedAt < maxAge) {
      this.stats.hits++;
      return { file, size: st.size, source: 'hit' };
    }
    try {
      const got = await this.#download(name, path, meta && st ? meta : undefined, signal);
      if (got === 'not-modified') {
        await writeFile(metaFile, JSON.stringify({ ...meta, fetchedAt: Date.now() }));
        this.stats.hits++;
        return { file, size: st?.size ?? 0, source: 'hit' };
      }
      await mkdir(dirname(file), { recursive: true });
      await rename(got.tmp, file);
      await writeFile(metaFile, JSON.stringify({ fetchedAt: Date.now(), ...(got.lastModified ? { lastModified: got.lastModified } : {}), ...(got.etag ? { etag: got.etag } : {}) } satisfies IndexMeta));
      this.stats.misses++;
      return { file, size: got.size, sha256: got.sha256, source: 'miss' };
    } catch (e) {
      // Air gap or upstream trouble: an index we have is better than none (apt checks its signature
      // and Valid-Until itself). A 404 is an answer, not trouble.
      if (st && !(e instanceof LpmosError && e.code === ErrorCode.NotFound)) {
        this.#o.logger.warn({ mirror: name, path, err: (e as Error).message }, 'upstream failed; serving the cached index');
        this.stats.stale++;
        return { file, size: st.size, source: 'stale' };
      }
      throw e;
    }
  }

  async #download(name: string, path: string, cached: IndexMeta | undefined, signal?: AbortSignal): Promise<'not-modified' | { tmp: string; size: number; sha256: string; lastModified?: string; etag?: string }> {
    const url = this.#upstreamUrl(name, path);
    if (!url) throw new LpmosError(ErrorCode.NotFound, `${name}/${path} is not cached and mirror "${name}" has no upstream`);
    const headers: Record<string, string> = {};
    if (cached?.etag) headers['if-none-match'] = cached.etag;
    if (cached?.lastModified) headers['if-modified-since'] = cached.lastModified;
    let res: Response;
    try {
      res = await this.#fetch(url, { headers, ...(signal ? { signal } : {}) });
    } catch (e) {
      throw new LpmosError(ErrorCode.Unavailable, `upstream ${url}: ${(e as Error).message}`, { cause: e });
    }
    if (res.status === 304 && cached) return 'not-modified';
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      throw new LpmosError(ErrorCode.NotFound, `upstream has no ${url}`);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new LpmosError(ErrorCode.Unavailable, `upstream ${url} answered ${res.status}`);
    }
    const tmp = join(this.#o.dir, 'tmp', `${process.pid}-${Math.random().toString(36).slice(2)}`);
    await mkdir(dirname(tmp), { recursive: true });
    const hash = createHash('sha256');
    let size = 0;
    try {
      const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
      body.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        size += chunk.length;
      });
      await pipeline(body, createWriteStream(tmp), ...(signal ? [{ signal }] : []));
    } catch (e) {
      await rm(tmp, { force: true });
      throw new LpmosError(ErrorCode.Unavailable, `upstream ${url} broke off: ${(e as Error).message}`, { cause: e });
    }
    const expected = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(expected) && expected !== size) {
      await rm(tmp, { force: true });
      throw new LpmosError(ErrorCode.Unavailable, `upstream ${url} sent ${size} of ${expected} bytes`);
    }
    this.stats.upstreamBytes += size;
    const lastModified = res.headers.get('last-modified') ?? undefined;
    const etag = res.headers.get('etag') ?? undefined;
    return { tmp, size, sha256: hash.digest('hex'), ...(lastModified ? { lastModified } : {}), ...(etag ? { etag } : {}) };
  }
}
