// The seed's mirror and its blob exchange (issue 7). Agents fetch package files by SHA256 and size
// from the apt index (agent/apt-proxy.ts). For a file no peer holds yet, the exchange needs its
// piece hashes (a manifest) to fetch it piece by piece — several agents then share the pieces while
// they are still downloading; without one, each agent streams the whole file from the seed.
//
// Decision: the seed's exchange serves no piece bytes itself (its role is `seed`: pieces come from
// its HTTP routes, here /mirror/<name>/… with Range, counted as bytes from the seed), but it does
// answer MANIFEST? for the larger package files its mirror holds: each pool file of at least two
// pieces that the mirror serves is added to the seed's blob store once. Smaller files fit in one
// piece, where a manifest gains nothing — they are fetched whole from the mirror URL as before — and
// keeping them out keeps the second copy on the seed's disk to the few big packages (the kernel,
// firmware, libc, systemd: most of an install's bytes).
import { silentLogger, type Logger } from '../core/log.ts';
import { DEFAULT_PIECE_SIZE, type BlobExchange } from '../swarm/blobs/api.ts';
import { MirrorCache, type MirrorFile, type MirrorOptions } from './mirror/cache.ts';

export interface MirrorBlobsOptions {
  /** Smallest file added (default two pieces). */
  minBytes?: number;
  logger?: Logger;
}

/** A MirrorCache whose package files of ≥ minBytes become blobs of the seed's exchange once served. */
export class SwarmMirrorCache extends MirrorCache {
  readonly #blobs: BlobExchange;
  readonly #min: number;
  readonly #log: Logger;
  readonly #known = new Set<string>();
  #queue: Promise<void> = Promise.resolve();
  /** Files added to the blob store (for tests and logs). */
  added = 0;

  constructor(o: MirrorOptions, blobs: BlobExchange, opts: MirrorBlobsOptions = {}) {
    super(o);
    this.#blobs = blobs;
    this.#min = opts.minBytes ?? 2 * DEFAULT_PIECE_SIZE;
    this.#log = opts.logger ?? silentLogger();
  }

  override async open(name: string, rawPath: string, signal?: AbortSignal): Promise<MirrorFile> {
    const f = await super.open(name, rawPath, signal);
    if (f.sha256 && f.size >= this.#min && /^\/*pool\//.test(rawPath)) this.#note(f.file, f.sha256);
    return f;
  }

  /** Resolves when every file noted so far is in the blob store (tests). */
  settled(): Promise<void> {
    return this.#queue;
  }

  #note(file: string, sha256: string): void {
    if (this.#known.has(sha256)) return;
    this.#known.add(sha256);
    if (this.#blobs.store.get(sha256)?.complete) return;
    // One at a time: hashing a kernel package is a second of CPU the seed's other work should share.
    this.#queue = this.#queue.then(async () => {
      try {
        await this.#blobs.add(file, { pin: false });
        this.added++;
      } catch (e) {
        this.#known.delete(sha256);
        this.#log.warn({ file, err: (e as Error).message }, 'mirror file not added to the blob store; agents fetch it whole');
      }
    });
  }
}
