// The blob exchange of one node (agent or seed), wired from the parts next to this file: the piece
// store, have announcements and the holder index, the `/lpmos/blob/1.0.0` server, the HTTP piece
// server, and the fetcher with single-flight per blob. The seed runs it with `role: 'seed'`: it
// answers manifest queries and is the tracker (tracker.ts: agents push their announcements to it,
// ask it for holders and for seed pieces) but neither announces nor serves pieces to peers (agents
// fall back to its HTTP artifact route, which the stats count as bytes from seed).
import type { PeerId } from '@libp2p/interface';
import { silentLogger, type Logger } from '../../core/log.ts';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import type { SwarmNode } from '../node.ts';
import { type BlobExchange, type BlobManifest, type BlobRef, type BlobServiceOptions, type BlobStats, type FetchOptions, type FetchResult, type HaveEntry, type PieceStore } from './api.ts';
import { HaveAnnouncer } from './announcer.ts';
import { DEFAULT_TUNING, download, type DownloadResult, type DownloadTuning, type PollUrgency } from './download.ts';
import { HaveDiscovery } from './discover.ts';
import { encodeHave } from './have.ts';
import { HolderIndex } from './holders.ts';
import { httpRange } from './http-client.ts';
import { HttpBlobServer } from './http-server.ts';
import { addFile } from './add-file.ts';
import { isManifest, pieceRange } from './manifest.ts';
import { p2pPiece } from './p2p-client.ts';
import { P2pBlobServer } from './p2p-server.ts';
import { storeSeedWhole } from './seed-whole.ts';
import { askManifest, connectedPeers } from './manifest-lookup.ts';
import type { TrackedHolder } from './tracker.ts';
import { NodeLimits } from './node-limits.ts';
import { SeedClaims } from './seed-claims.ts';
import { TrackerServer } from './tracker-server.ts';
import { TrackerClient } from './tracker-client.ts';
import { UploadLimiter } from './upload-limit.ts';
import { raceAbort } from './deadline.ts';
import { DEFAULT_TRACKER_POLL_MS, emptyStats, type BlobServiceExtras } from './service-options.ts';

export { DEFAULT_TRACKER_POLL_MS, emptyStats, type BlobServiceExtras } from './service-options.ts';

/** One download's outcome; `unpin` releases the pin it holds for its callers. */
interface Outcome {
  manifest: BlobManifest;
  r: DownloadResult;
  unpin: () => void;
}

interface Flight {
  promise: Promise<Outcome>;
  waiters: number;
  settled: boolean;
  /** Aborts the download once every caller gave up (a caller's own signal ends only its wait). */
  abort: AbortController;
}

export class BlobService implements BlobExchange {
  readonly store: PieceStore;
  readonly stats: BlobStats = emptyStats();
  readonly index: HolderIndex;
  readonly announcer: HaveAnnouncer;
  readonly node: SwarmNode;
  readonly limiter: UploadLimiter;
  readonly discovery: HaveDiscovery;
  #o: BlobServiceOptions & BlobServiceExtras;
  #log: Logger;
  #p2p: P2pBlobServer;
  #http: HttpBlobServer | undefined;
  #httpUrl: string | undefined;
  #tuning: DownloadTuning;
  #flights = new Map<string, Flight>();
  #stop = new AbortController();
  #dialing = new Set<string>();
  /** Seed pieces in flight, announced as `fetching`. */
  #claims = new SeedClaims();
  /** `peer blob` pairs whose holder sent bad bytes: never asked for that blob again. */
  #bad = new Set<string>();
  /** Tracker mode: when each blob's holders were last asked of the tracker (ms). */
  #polled = new Map<string, number>();
  /** The tracker's side (the seed), when this service is the seed's. */
  #trackerServer: TrackerServer | undefined;
  /** The agent's side of the tracker (tracker-client.ts), when it has one. */
  #trackerClient: TrackerClient | undefined;
  /** Tracker traffic: agent — pushes sent are `announcer.stats.sent`, holder queries here; seed — pushes and queries answered. */
  readonly tracker = { queries: 0, answers: 0, claimsAsked: 0, claimsDenied: 0, claimErrors: 0, sessionRequests: 0, sessionsOpened: 0, sessionAnswerBytes: 0, seedForcedFailures: 0, seedForcedDenials: 0, seedBusy: 0, pushesIn: 0, pushesRejected: 0, queriesIn: 0, granted: 0, denied: 0, grantsBusy: 0 };
  /** Pieces in flight, arrival rate and seed pause across all downloads (node-limits.ts). */
  #limits: NodeLimits;

  constructor(node: SwarmNode, opts: BlobServiceOptions & BlobServiceExtras) {
    this.node = node;
    this.store = opts.store;
    this.#o = opts;
    this.#log = opts.logger ?? silentLogger();
    const agent = (opts.role ?? 'agent') === 'agent';
    const tracker = agent ? opts.tracker : undefined;
    const tc = tracker ? new TrackerClient({ libp2p: node.libp2p, tracker, counters: this.tracker, log: this.#log, stop: this.#stop.signal, onHolders: (h) => this.#indexHolders(h) }) : undefined;
    this.#trackerClient = tc;
    this.index = new HolderIndex({ ttlMs: opts.holderTtlMs ?? 60_000 });
    this.limiter = new UploadLimiter(opts.uploads ?? {});
    this.#tuning = {
      ...DEFAULT_TUNING,
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      ...(opts.perHolder ? { perHolder: opts.perHolder } : {}),
      ...(opts.pieceTimeoutMs ? { pieceTimeoutMs: opts.pieceTimeoutMs } : {}),
      ...opts.tuning,
    };
    this.#limits = new NodeLimits(this.#tuning);
    this.announcer = new HaveAnnouncer({
      pubsub: node.pubsub,
      site: opts.site,
      store: opts.store,
      index: this.index,
      where: () => ({ addrs: node.addrs(), http: this.#httpUrl }),
      announce: agent,
      log: this.#log,
      ...(opts.announceEveryMs ? { everyMs: opts.announceEveryMs } : {}),
      // A push costs only the seed a small message: new pieces go out sooner than on gossip.
      ...(opts.announcePieceMs !== undefined ? { pieceDelayMs: opts.announcePieceMs } : tracker ? { pieceDelayMs: 100 } : {}),
      ...(agent && !tracker ? { onHolder: (peerId: string, addrs: string[]) => this.#keepMesh(peerId, addrs) } : {}),
      ...(tc ? { push: (bytes: Uint8Array) => tc.push(bytes) } : {}),
      fetching: (sha: string) => this.#fetching(sha),
      ...(opts.allowed ? { allowed: opts.allowed } : {}),
    });
    this.discovery = new HaveDiscovery({
      libp2p: node.libp2p,
      index: this.index,
      peers: () => connectedPeers(this.node.libp2p),
      // A loaded seed answers late: an answer after 1 s is still worth having (it comes in ms when idle).
      timeoutMs: tracker ? Math.max(opts.discoverMs ?? 1000, 5000) : (opts.discoverMs ?? 1000),
      ...(tc ? { query: (shas: string[], signal: AbortSignal) => this.#askTracker(tc, shas, signal) } : {}),
    });
    const ts = agent ? undefined : new TrackerServer({ index: this.index, claimTtlMs: this.#tuning.claimTtlMs, counters: this.tracker, ...(opts.allowed ? { allowed: opts.allowed } : {}), ...(opts.maxSeedGrants ? { maxGrants: opts.maxSeedGrants } : {}) });
    this.#trackerServer = ts;
    this.#p2p = new P2pBlobServer({
      libp2p: node.libp2p,
      store: opts.store,
      limiter: this.limiter,
      stats: this.stats,
      haveFor: (blobs) => encodeHave(agent ? this.announcer.haveFor(blobs) : { v: 1, addrs: [], blobs: [] }),
      servePieces: agent,
      ...(ts
        ? {
            onPush: (peer: string, body: Uint8Array) => ts.onPush(peer, body),
            holdersFor: (peer: string, blobs: string[]) => ts.holdersFor(peer, blobs),
            claim: (peer: string, sha: string, i: number, pieces: number) => ts.claim(peer, sha, i, pieces),
          }
        : {}),
      log: this.#log,
    });
    if (opts.http && agent) this.#http = new HttpBlobServer({ store: opts.store, limiter: this.limiter, stats: this.stats, log: this.#log });
  }

  /** The seed's tracker (its grants, the claims waiting for one); undefined on an agent. */
  get trackerServer(): TrackerServer | undefined {
    return this.#trackerServer;
  }

  get httpUrl(): string | undefined {
    return this.#httpUrl;
  }

  /** HTTP by default: 3–4× the throughput of a libp2p stream at a third of the CPU (README). */
  get transport(): 'libp2p' | 'http' {
    return this.#o.transport ?? 'http';
  }

  async start(): Promise<void> {
    this.#stop = new AbortController();
    if (this.#http && this.#o.http) {
      const { host, port } = this.#o.http;
      const url = await this.#http.start(host, port ?? 0);
      this.#httpUrl = host === '0.0.0.0' ? url.replace('0.0.0.0', this.#advertisedIp()) : url;
    }
    await this.#p2p.start();
    this.node.libp2p.addEventListener('peer:disconnect', this.#onDisconnect);
    this.announcer.start();
    this.announcer.announceAll();
  }

  /** A peer we lost our connection to is not offered as a holder until it announces again. */
  readonly #onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.index.forgetPeer(evt.detail.toString());
    this.#trackerServer?.forgetPeer(evt.detail.toString());
  };

  async stop(): Promise<void> {
    this.#stop.abort();
    this.node.libp2p.removeEventListener('peer:disconnect', this.#onDisconnect);
    this.discovery.stop();
    this.announcer.stop();
    this.#trackerClient?.close();
    this.#trackerServer?.close();
    await this.#p2p.stop();
    await this.#http?.stop();
  }

  /** The agent's side: asks the tracker who holds these blobs; the answer goes into the index. */
  async #askTracker(tc: TrackerClient, shas: string[], signal: AbortSignal): Promise<void> {
    const now = Date.now();
    for (const sha of shas) this.#polled.set(sha, now);
    this.tracker.queries++;
    const r = await tc.holders(shas, signal);
    if (!r.ok) {
      this.#log.debug({ detail: r.detail }, 'tracker answer rejected');
      return;
    }
    this.tracker.answers++;
    this.#indexHolders(r.holders);
  }

  /** Holders the tracker named (an answer, or a refused claim) into the index. */
  #indexHolders(holders: TrackedHolder[]): void {
    for (const h of holders) {
      if (h.peerId === this.node.peerId || (this.#o.allowed && !this.#o.allowed(h.peerId))) continue;
      for (const b of h.blobs) this.index.update(h.peerId, { addrs: h.addrs, http: h.http }, [b], [], b.at);
    }
  }

  /**
   * Tracker mode: fresh holders for a running download, at most every `trackerPollMs` per blob while
   * pieces wait for a source (`soon`, after a refused seed piece: 250 ms), every 4 × that while all
   * its slots are busy (bench:swarm: queries were most of an agent's libp2p streams, and each stream
   * cost both ends a peer-store update besides noise and yamux); the other running downloads due
   * within half the interval go in the same query.
   */
  #poll(sha: string, urgency: PollUrgency = 'starved'): void {
    const now = Date.now();
    const every = this.#o.trackerPollMs ?? DEFAULT_TRACKER_POLL_MS;
    if (now - (this.#polled.get(sha) ?? 0) < (urgency === 'soon' ? 250 : urgency === 'fed' ? 4 * every : every)) return;
    const due = [sha, ...[...this.#polled].filter(([s, at]) => s !== sha && this.#flights.has(s) && now - at >= every / 2).map(([s]) => s)];
    for (const s of due) {
      this.#polled.set(s, now);
      void this.discovery.ask(s, this.#stop.signal);
    }
  }

  #fetching(sha: string): Uint8Array | undefined {
    const s = this.store.get(sha);
    return s ? this.#claims.fetching(sha, s.manifest.pieces.length) : undefined;
  }

  #claim(sha: string, i: number): () => void {
    const end = this.#claims.claim(sha, i);
    // On gossip a claim goes out at once; the tracker recorded it already when it granted it.
    this.announcer.changed(sha, !this.#trackerClient);
    return end;
  }

  /**
   * Connects to holders we hear of until we have `meshPeers` connections besides the seed: pieces
   * over HTTP need no libp2p connection, so without this every agent's only peer would be the seed
   * and announcements would reach most agents only by gossipsub's lazy IHAVE rounds (1 s each, 6
   * peers a round) once the seed's mesh (≤ 12) is full.
   */
  #keepMesh(peerId: string, addrs: string[]): void {
    if (this.#dialing.has(peerId) || addrs.length === 0 || peerId === this.node.peerId) return;
    if (this.node.libp2p.getConnections().length >= (this.#o.meshPeers ?? 8) + 1 || this.node.isConnected(peerId)) return;
    this.#dialing.add(peerId);
    const target = addrs.find((a) => !a.startsWith('/ip4/127.')) ?? addrs[0]!;
    this.node
      .dial(target, AbortSignal.any([this.#stop.signal, AbortSignal.timeout(5000)]))
      .catch((e: unknown) => this.#log.debug({ peer: peerId, err: (e as Error).message }, 'could not connect to a holder'))
      .finally(() => this.#dialing.delete(peerId));
  }

  /** The first non-loopback IPv4 address the node listens on (what peers can reach), else loopback. */
  #advertisedIp(): string {
    for (const a of this.node.addrs()) {
      const m = /^\/ip4\/([\d.]+)\//.exec(a);
      if (m && !m[1]!.startsWith('127.') && m[1] !== '0.0.0.0') return m[1]!;
    }
    return '127.0.0.1';
  }

  /** Asks for holders of a blob now (the tracker, or have? of connected peers); resolves when answered. */
  lookup(sha256: string, signal?: AbortSignal): Promise<void> {
    return this.discovery.ask(sha256, signal ? AbortSignal.any([signal, this.#stop.signal]) : this.#stop.signal);
  }

  holders(sha256: string): HaveEntry[] {
    return this.index.holders(sha256).filter((e) => e.peerId !== this.node.peerId && !this.#bad.has(`${e.peerId} ${sha256}`));
  }

  /** Adds a local file to the store (pinned with `pin`). */
  add(path: string, opts: { pieceSize?: number; pin?: boolean } = {}): Promise<BlobManifest> {
    return addFile(this.store, path, { ...opts, signal: this.#stop.signal });
  }

  async fetch(blob: BlobManifest | BlobRef, opts: FetchOptions = {}): Promise<FetchResult> {
    const sha = blob.sha256;
    let flight = this.#flights.get(sha);
    if (flight) this.stats.fetchesJoined++;
    else {
      const f: Flight = { waiters: 0, settled: false, abort: new AbortController(), promise: undefined as unknown as Flight['promise'] };
      f.promise = this.#fetchOnce(blob, { ...opts, signal: f.abort.signal }).finally(() => {
        f.settled = true;
        if (this.#flights.get(sha) === f) this.#flights.delete(sha);
        this.#polled.delete(sha);
      });
      this.#flights.set(sha, (flight = f));
    }
    flight.waiters++;
    try {
      const { manifest, r } = await (opts.signal ? raceAbort(flight.promise, opts.signal) : flight.promise);
      const unpin = opts.pin === false ? () => undefined : this.store.pin(sha);
      return { manifest, fromSeed: r.fromSeed, fromPeers: r.fromPeers, peers: r.peers, dropped: r.dropped, unpin };
    } finally {
      // The download's own pin is held until every caller took its own; a download every caller
      // abandoned is stopped (and leaves the single-flight map, so a new fetch starts afresh).
      if (--flight.waiters === 0) {
        if (!flight.settled) {
          flight.abort.abort(new LpmosError(ErrorCode.Unavailable, `fetch of blob ${sha.slice(0, 12)} abandoned by every caller`));
          if (this.#flights.get(sha) === flight) this.#flights.delete(sha);
        }
        flight.promise.then((x) => x.unpin(), () => undefined);
      }
    }
  }

  async #fetchOnce(blob: BlobManifest | BlobRef, opts: FetchOptions): Promise<Outcome> {
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.#stop.signal]) : this.#stop.signal;
    const held = this.store.get(blob.sha256);
    if (held?.complete) return { manifest: held.manifest, r: { fromSeed: 0, fromPeers: 0, peers: [], dropped: [] }, unpin: this.store.pin(blob.sha256) };
    // Gossip may already have told us enough; otherwise ask the connected peers (batched).
    if (this.holders(blob.sha256).length < 3) await this.discovery.ask(blob.sha256, signal);
    let manifest = isManifest(blob) ? blob : held?.manifest;
    if (!manifest) manifest = await askManifest(this.node.libp2p, this.node.peerId, this.holders(blob.sha256), blob, signal);
    if (!manifest) {
      if (!opts.seedUrl) throw new LpmosError(ErrorCode.Unavailable, `blob ${blob.sha256.slice(0, 12)}: no peer knows it and no seed URL was given`);
      return this.#fromSeedWhole(opts.seedUrl, blob, signal);
    }
    const m = manifest;
    // Pinned for the download, and until every joined caller took its own pin.
    await this.store.open(m, signal);
    const unpin = this.store.pin(m.sha256);
    try {
      const r = await download(this.#deps(), m, { ...opts, signal });
      return { manifest: m, r, unpin };
    } catch (e) {
      unpin();
      // A peer's manifest whose pieces verify but whose whole does not: take the file from the seed.
      if (!isManifest(blob) && opts.seedUrl && e instanceof LpmosError && e.code === ErrorCode.Validation) return this.#fromSeedWhole(opts.seedUrl, blob, signal);
      throw e;
    }
  }

  async #fromSeedWhole(url: string, ref: BlobRef, signal: AbortSignal): Promise<Outcome> {
    const { manifest, unpin } = await storeSeedWhole(this.store, this.stats, url, ref, signal);
    return { manifest, r: { fromSeed: ref.size, fromPeers: 0, peers: [], dropped: [] }, unpin };
  }

  #deps() {
    const tc = this.#trackerClient;
    const lim = this.#limits;
    return {
      store: this.store,
      self: this.node.peerId,
      holders: (sha: string) => this.holders(sha),
      forget: (peer: string, sha: string) => {
        this.#bad.add(`${peer} ${sha}`);
        this.index.forget(peer, sha);
      },
      peerPiece: (h: HaveEntry, m: BlobManifest, i: number, signal: AbortSignal) => {
        const r = pieceRange(m, i);
        if (this.transport === 'http' && h.http) return lim.metered(r.end - r.start, () => httpRange(`${h.http}/${m.sha256}`, r.start, r.end, m.size, signal));
        return lim.metered(r.end - r.start, () => p2pPiece(this.node.libp2p, h, m.sha256, i, r.end - r.start, signal));
      },
      seedPiece: (url: string, m: BlobManifest, i: number, signal: AbortSignal) => {
        const r = pieceRange(m, i);
        return lim.metered(r.end - r.start, () => httpRange(url, r.start, r.end, m.size, signal));
      },
      slots: lim.slots,
      seedSlots: lim.seedSlots,
      peerTimeoutMs: (bytes: number) => lim.peerTimeoutMs(bytes),
      counters: this.tracker,
      seedPause: lim.seedPause,
      claim: (sha: string, i: number) => this.#claim(sha, i),
      ...(tc ? { poll: (sha: string, urgency: PollUrgency) => this.#poll(sha, urgency), askSeed: (sha: string, i: number, pieces: number) => tc.askSeed(sha, i, pieces) } : {}),
      stats: this.stats,
      log: this.#log,
      tuning: this.#tuning,
    };
  }
}

export function createBlobService(node: SwarmNode, opts: BlobServiceOptions & BlobServiceExtras): BlobService {
  return new BlobService(node, opts);
}
