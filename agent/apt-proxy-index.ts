// The apt proxy's knowledge of the archive: from every Release it passed through, the SHA256 and
// size of each index file; from every Packages index it passed through, the SHA256 and size of
// each package file. A Packages.xz (what debootstrap and apt prefer) cannot be decoded here — Node
// has no xz — so its sibling Packages.gz, whose hash the Release gives, is fetched through the blob
// exchange instead (peers first), verified, and parsed. Loads run once per (mirror, suite,
// component, arch); a package request waits for the loads of its mirror under way.
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Logger } from '../core/log.ts';
import type { BlobRef } from '../swarm/blobs/api.ts';
import { compressionOf, PackagesParser, parseRelease, type MirrorRequest } from './apt-proxy-codec.ts';

export interface IndexDeps {
  /** Bytes of `<mirror>/<path>` (an index file), verified against `ref` when one is given. */
  fetchFile: (mirror: string, path: string, ref: BlobRef | undefined) => Promise<Uint8Array>;
  log: Logger;
}

type PackagesRequest = Extract<MirrorRequest, { kind: 'packages' }>;

export class PackageIndex {
  readonly #d: IndexDeps;
  /** `<mirror>\0<filename>` → ref. */
  readonly #files = new Map<string, BlobRef>();
  /** `<mirror>\0<suite>` → the Release's entries (path under dists/<suite>/ → ref). */
  readonly #releases = new Map<string, Map<string, BlobRef>>();
  /** `<mirror>\0<suite>\0<component>\0<arch>` → its load (done or under way). */
  readonly #loads = new Map<string, Promise<void>>();
  readonly #pending = new Map<string, Set<Promise<void>>>();
  /** Loads finished and package files known (for logs and tests). */
  loadsDone = 0;

  constructor(d: IndexDeps) {
    this.#d = d;
  }

  get size(): number {
    return this.#files.size;
  }

  lookup(mirror: string, path: string): BlobRef | undefined {
    return this.#files.get(`${mirror}\0${path}`);
  }

  /** The Release entry of a suite's file (`main/binary-amd64/Packages.gz`). */
  releaseEntry(mirror: string, suite: string, path: string): BlobRef | undefined {
    return this.#releases.get(`${mirror}\0${suite}`)?.get(path);
  }

  /**
   * Hash and size of an index file under dists/<suite>/ (by name, or a by-hash path) from the suite's
   * Release the proxy passed through; undefined for the Release itself or when not known.
   */
  indexRef(mirror: string, path: string): BlobRef | undefined {
    const m = /^dists\/([^/]+)\/(.+)$/.exec(path);
    if (!m || m[2] === 'InRelease' || m[2] === 'Release' || m[2] === 'Release.gpg') return undefined;
    const rel = this.#releases.get(`${mirror}\0${m[1]!}`);
    if (!rel) return undefined;
    const h = /\/by-hash\/SHA256\/([0-9a-f]{64})$/.exec(m[2]!);
    if (!h) return rel.get(m[2]!);
    for (const ref of rel.values()) if (ref.sha256 === h[1]) return ref;
    return undefined;
  }

  /** Waits (≤ ms) for the loads of this mirror under way, then looks the file up. */
  async waitFor(mirror: string, path: string, ms: number): Promise<BlobRef | undefined> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.lookup(mirror, path);
      if (hit) return hit;
      const pending = [...(this.#pending.get(mirror) ?? [])];
      const left = end - Date.now();
      if (pending.length === 0 || left <= 0) return undefined;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled(pending), new Promise((r) => (timer = setTimeout(r, left)))]);
      clearTimeout(timer);
    }
  }

  /** A Release or InRelease body the proxy passed through. */
  sawRelease(mirror: string, suite: string, body: Uint8Array): void {
    const entries = parseRelease(Buffer.from(body).toString('latin1'));
    if (entries.size === 0) return;
    // Merge: InRelease and Release of one generation agree; a newer one replaces what it names.
    const key = `${mirror}\0${suite}`;
    const old = this.#releases.get(key);
    this.#releases.set(key, old ? new Map([...old, ...entries]) : entries);
  }

  /**
   * Whether a by-hash file under `<component>/binary-<arch>/` is a Packages index (it may also be that
   * directory's Release): by the suite's Release when known, else by its first bytes.
   */
  isPackages(mirror: string, req: PackagesRequest, body: Uint8Array): boolean {
    if (!req.byHash) return true;
    const rel = this.#releases.get(`${mirror}\0${req.suite}`);
    if (rel) {
      const dir = `${req.component}/binary-${req.arch}/`;
      return ['Packages', 'Packages.gz', 'Packages.xz'].some((f) => rel.get(dir + f)?.sha256 === req.byHash);
    }
    return compressionOf(body) !== 'none' || Buffer.from(body.subarray(0, 9)).toString('latin1') === 'Package: ';
  }

  /** A Packages index body the proxy passed through (200): indexes it, or its .gz sibling when it is xz. */
  sawPackages(mirror: string, req: PackagesRequest, body: Uint8Array): void {
    const key = `${mirror}\0${req.suite}\0${req.component}\0${req.arch}`;
    if (this.#loads.has(key)) return;
    const p = this.#load(mirror, req, body).then(
      () => {
        this.loadsDone++;
      },
      (e: unknown) => {
        // Forget it so a later request may try again; until then packages are passed through.
        this.#loads.delete(key);
        this.#d.log.warn({ mirror, suite: req.suite, component: req.component, arch: req.arch, err: (e as Error).message }, 'package index not loaded; its packages are passed through from the seed');
      },
    );
    this.#loads.set(key, p);
    let set = this.#pending.get(mirror);
    if (!set) this.#pending.set(mirror, (set = new Set()));
    set.add(p);
    void p.finally(() => set.delete(p));
  }

  async #load(mirror: string, req: PackagesRequest, body: Uint8Array): Promise<void> {
    const kind = compressionOf(body);
    if (kind !== 'xz') return this.#parse(mirror, body, kind === 'gz');
    const gzPath = `${req.component}/binary-${req.arch}/Packages.gz`;
    const ref = this.releaseEntry(mirror, req.suite, gzPath);
    const gz = await this.#d.fetchFile(mirror, `dists/${req.suite}/${gzPath}`, ref);
    return this.#parse(mirror, gz, true);
  }

  async #parse(mirror: string, bytes: Uint8Array, gz: boolean): Promise<void> {
    const found: [string, BlobRef][] = [];
    const parser = new PackagesParser((f) => found.push([`${mirror}\0${f.filename}`, { sha256: f.sha256, size: f.size }]));
    const src = Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
    const stream = gz ? src.pipe(createGunzip()) : src;
    // Only ASCII fields matter: latin1 never splits a character across chunks.
    stream.setEncoding('latin1');
    for await (const chunk of stream) parser.push(chunk as string);
    parser.end();
    for (const [k, v] of found) this.#files.set(k, v);
    this.#d.log.info({ mirror, packages: parser.files }, 'package index loaded');
  }
}
