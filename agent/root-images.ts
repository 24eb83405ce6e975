// The agent's side of seed-built roots (installers/debian/root-image.ts): asks the seed for the image
// of a package set (POST /rootfs; the seed answers `building` until its debootstrap is done), then
// fetches it through the blob exchange — pieces from machines that have it, the seed only for what
// no peer holds — and keeps it pinned while the install unpacks it (so peers installing the same
// profile take it from here). An image that does not fit in the blob store's memory budget streams
// from the seed over HTTP instead (resumed with Range where a connection breaks), its sha256 checked at
// the end (a mismatch fails the unpack).
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, formatError, LpmosError } from '../core/errors.ts';
import { hashingStream } from '../core/hash-stream.ts';
import type { Logger } from '../core/log.ts';
import { rootfsQuery, rootImageRefSchema, type OpenedRootImage, type RootImageProgress, type RootImageRef, type RootImageSource, type RootImageSpec } from '../installers/debian/root-image.ts';
import type { BlobExchange } from '../swarm/blobs/api.ts';
import { resumableGet } from './resumable-get.ts';

export interface SeedRootImagesOptions {
  seedUrl: string;
  exchange?: BlobExchange;
  logger: Logger;
  /** How long to wait for the seed's build (default 60 min: a first build downloads every package). */
  buildTimeoutMs?: number;
  pollMs?: number;
}

export class SeedRootImages implements RootImageSource {
  readonly #o: SeedRootImagesOptions;

  constructor(o: SeedRootImagesOptions) {
    this.#o = o;
  }

  async open(spec: RootImageSpec, signal: AbortSignal, progress: (p: RootImageProgress) => void): Promise<OpenedRootImage> {
    const ref = await this.#ready(spec, signal, progress);
    const url = `${this.#o.seedUrl.replace(/\/+$/, '')}${ref.path}`;
    const x = this.#o.exchange;
    const room = x ? x.store.budget - x.store.used : 0;
    if (x && (ref.size <= room || x.store.get(ref.sha256)?.complete)) {
      try {
        return await this.#viaSwarm(x, ref, url, signal, progress);
      } catch (e) {
        // E.g. the boot files were pinned meanwhile and the store is full now: the seed streams it.
        if (signal.aborted) throw e;
        this.#o.logger.warn({ err: formatError(e) }, 'root image not fetched through the swarm: streaming it from the seed');
      }
    } else {
      this.#o.logger.info({ size: ref.size, room, budget: x?.store.budget }, 'root image does not fit in the blob store: streaming it from the seed');
    }
    const body = Readable.from(resumableGet({ url, size: ref.size, signal, log: this.#o.logger }), { objectMode: false });
    return { stream: verified(body, ref), size: ref.size, sha256: ref.sha256, via: 'seed (HTTP)', close: () => body.destroy() };
  }

  async #viaSwarm(x: BlobExchange, ref: RootImageRef, url: string, signal: AbortSignal, progress: (p: RootImageProgress) => void): Promise<OpenedRootImage> {
    let last = 0;
    const r = await x.fetch({ sha256: ref.sha256, size: ref.size }, {
      seedUrl: url, pin: true, signal,
      onProgress: (p) => {
        if (performance.now() - last < 2000) return;
        last = performance.now();
        progress({ percent: 0, bytes: p.bytes, message: `root image: ${mib(p.bytes)} of ${mib(p.size)} MiB (${mib(p.fromPeers)} from peers)` });
      },
    });
    this.#o.logger.info({ sha256: ref.sha256, size: ref.size, fromSeed: r.fromSeed, fromPeers: r.fromPeers, peers: r.peers.length }, 'root image fetched through the swarm');
    return { stream: x.store.read(ref.sha256), size: ref.size, sha256: ref.sha256, via: `swarm (${mib(r.fromPeers)} MiB from peers, ${mib(r.fromSeed)} MiB from the seed)`, close: r.unpin };
  }

  /** Asks the seed until the image is built; E_UNAVAILABLE when its build failed or takes too long. */
  async #ready(spec: RootImageSpec, signal: AbortSignal, progress: (p: RootImageProgress) => void): Promise<RootImageRef> {
    const url = `${this.#o.seedUrl.replace(/\/+$/, '')}/rootfs?${rootfsQuery(spec)}`;
    const end = Date.now() + (this.#o.buildTimeoutMs ?? 60 * 60_000);
    const t0 = Date.now();
    let errors = 0;
    for (;;) {
      try {
        const res = await fetch(url, { method: 'POST', signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]) });
        const body = (await res.json()) as { state?: string; image?: unknown; message?: string; code?: string; error?: { code: string; message: string } };
        if (res.status === 200 && body.state === 'ready') return rootImageRefSchema.parse(body.image);
        if (res.status === 502 && body.state === 'failed') throw new LpmosError(ErrorCode.Unavailable, `the seed could not build the root image: ${body.message ?? '?'}`);
        if (res.status === 400 || res.status === 404) throw new LpmosError(res.status === 400 ? ErrorCode.Validation : ErrorCode.NotFound, `${url}: ${body.error?.message ?? `HTTP ${res.status}`}`);
        if (res.status !== 202) throw new Error(`HTTP ${res.status}`);
        errors = 0;
        progress({ percent: 0, message: `the seed builds the root image (${Math.round((Date.now() - t0) / 1000)} s): ${body.message ?? ''}` });
      } catch (e) {
        if (signal.aborted || e instanceof LpmosError) throw e;
        if (++errors >= 10) throw new LpmosError(ErrorCode.Unavailable, `root image from ${url}: ${formatError(e)}`, { cause: e });
        this.#o.logger.warn({ err: formatError(e), errors }, 'root image request failed: asking again');
      }
      if (Date.now() > end) throw new LpmosError(ErrorCode.Timeout, `the seed did not finish the root image in ${Math.round((Date.now() - t0) / 60_000)} min`);
      await sleep(this.#o.pollMs ?? 5000, undefined, { signal });
    }
  }
}

const mib = (n: number): string => (n / 2 ** 20).toFixed(0);

/** Passes the bytes through; fails the stream at its end when they are not the image's. */
function verified(src: Readable, ref: RootImageRef): Readable {
  const { stream } = hashingStream((got) => (got.sha256 === ref.sha256 && got.size === ref.size
    ? undefined
    : new LpmosError(ErrorCode.Validation, `root image ${ref.key}: got ${got.size} bytes with sha256 ${got.sha256}, expected ${ref.size} bytes with ${ref.sha256}`)));
  src.on('error', (e) => stream.destroy(e));
  return src.pipe(stream);
}
