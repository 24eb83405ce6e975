// The blob exchange's public types (issue 7): what a benchmark, the apt proxy and the boot-storm
// redirect program against. Implementations live in the files next to this one; `index.ts`
// re-exports both. Kept stable: fields may be added, none renamed or removed.
import type { Readable } from 'node:stream';

/** 1 MiB: small enough that many peers share one blob early, large enough that a piece's request overhead is noise. */
export const DEFAULT_PIECE_SIZE = 1024 * 1024;

/**
 * A blob's content address and how it is cut: sha256 of the whole, its size, the piece size (every
 * piece has it but the last), and the sha256 of every piece, all lowercase hex.
 */
export interface BlobManifest {
  sha256: string;
  size: number;
  pieceSize: number;
  pieces: string[];
}

/**
 * What the seed's artifact manifest or an apt index says about a file: its hash and size only.
 * A fetch of a ref learns the piece hashes from a holder (checked against the whole at the end)
 * or builds them itself while streaming the file from the seed.
 */
export interface BlobRef {
  sha256: string;
  size: number;
}

/** One blob in a piece store: its manifest, which pieces are present (bitfield, MSB first), and use. */
export interface BlobState {
  manifest: BlobManifest;
  /** Bit i (byte i>>3, mask 0x80>>(i&7)) set when piece i is present and verified. */
  have: Uint8Array;
  /** Present pieces. */
  count: number;
  complete: boolean;
  pinned: number;
  lastUsed: number;
}

export type StoreEvent = { type: 'piece'; sha256: string; index: number } | { type: 'complete'; sha256: string } | { type: 'removed'; sha256: string };

/**
 * Where pieces live (DESIGN §5.3: one interface, two backends, one contract test): memory-bounded
 * for the agent (its ramdisk) and on disk for the seed. A store keeps bytes; it does not verify
 * them (the fetcher did before `putPiece`).
 */
export interface PieceStore {
  /** Byte budget (Infinity when unbounded) and bytes held (room reserved for every open blob). */
  readonly budget: number;
  readonly used: number;
  /**
   * Makes room for the blob (evicting least recently used unpinned blobs) and records its
   * manifest; a blob already open is returned as is. E_UNAVAILABLE when pinned blobs leave no room.
   */
  open(manifest: BlobManifest, signal?: AbortSignal): Promise<BlobState>;
  get(sha256: string): BlobState | undefined;
  list(): BlobState[];
  /** The store may keep `bytes` itself (the memory store keeps a buffer that is exactly the piece): do not change it afterwards. */
  putPiece(sha256: string, index: number, bytes: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** undefined when the blob or the piece is absent. */
  getPiece(sha256: string, index: number, signal?: AbortSignal): Promise<Uint8Array | undefined>;
  /** Bytes [start, end) of a complete blob (or of present pieces only), as a stream. */
  read(sha256: string, range?: { start: number; end: number }): Readable;
  /** Protects a blob from eviction until the returned function is called (counted). */
  pin(sha256: string): () => void;
  remove(sha256: string): Promise<void>;
  on(listener: (ev: StoreEvent) => void): () => void;
  close(): Promise<void>;
}

/** Where a piece's bytes came from. */
export type PieceSource = 'seed' | 'peer';

export interface FetchOptions {
  /** The file on the seed (HTTP, Range requests per piece): the fallback when no peer has a piece. */
  seedUrl?: string;
  /** Keep the blob pinned after the fetch; call `unpin` of the result to release it. Default true. */
  pin?: boolean;
  signal?: AbortSignal;
  /** Called as pieces arrive. */
  onProgress?: (p: { bytes: number; size: number; fromSeed: number; fromPeers: number }) => void;
}

export interface FetchResult {
  manifest: BlobManifest;
  /** Bytes of this fetch by source (0 when the blob was already complete in the store). */
  fromSeed: number;
  fromPeers: number;
  /** Peers that supplied at least one piece, and peers dropped for bad bytes. */
  peers: string[];
  dropped: string[];
  /** Releases the pin taken for this fetch (no-op when `pin: false`). */
  unpin: () => void;
}

/** Counters of one process (agent or seed): shown by `lpmos machine show`, the demo and /metrics. */
export interface BlobStats {
  bytesFromSeed: number;
  bytesFromPeers: number;
  bytesServedToPeers: number;
  piecesFromSeed: number;
  piecesFromPeers: number;
  piecesServed: number;
  /** Pieces whose bytes did not match their hash, and peers dropped for a blob because of it. */
  badPieces: number;
  peersDropped: number;
  /** Piece requests refused because an upload cap was reached. */
  uploadsRefused: number;
  /** Fetches that joined one already running for the same blob (single-flight). */
  fetchesJoined: number;
}

/** What a holder says it has (gossip `lpmos/<site>/blobs/have` or a direct have? query). */
export interface HaveEntry {
  peerId: string;
  sha256: string;
  /** Pieces in the blob and the holder's bitfield. */
  pieces: number;
  have: Uint8Array;
  /** Where to dial it (multiaddrs with /p2p/) and, when it serves pieces over HTTP, the base URL (…/blobs/<sha256>). */
  addrs: string[];
  http?: string;
  at: number;
  /**
   * Pieces it is fetching from the seed right now: others wait for those (then fetch them from it)
   * instead of asking the seed for the same bytes — the cold start, when nobody has anything yet.
   */
  fetching?: Uint8Array;
}

/** The blob service of one node: its store, announcements, holder index, server(s) and fetcher. */
export interface BlobExchange {
  readonly store: PieceStore;
  readonly stats: BlobStats;
  /** Fetches (or finds complete in the store) a blob; concurrent calls for one blob share one fetch. */
  fetch(blob: BlobManifest | BlobRef, opts?: FetchOptions): Promise<FetchResult>;
  /** Adds a local file as a complete blob (the seed's artifacts, a file an agent already has). */
  add(path: string, opts?: { pieceSize?: number; pin?: boolean }): Promise<BlobManifest>;
  /** Known holders of a blob (from the tracker's answers, or gossip and have? answers), freshest first. */
  holders(sha256: string): HaveEntry[];
  /** Base URL of this node's HTTP piece server (GET /blobs/<sha256> with Range), when it runs. */
  readonly httpUrl: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** How piece bytes move between peers: a libp2p stream (`/lpmos/blob/1.0.0`) or the holder's HTTP server. */
export type PeerTransport = 'libp2p' | 'http';

export interface UploadLimits {
  /** Concurrent piece uploads to one requesting peer (default 4) and in total (default 16). */
  perPeer: number;
  total: number;
}

/**
 * `createBlobService(opts)` in service.ts. The node is a started `SwarmNode` (agent or seed);
 * `site` names the gossip topic. `http` starts the holder's HTTP piece server on that address
 * (port 0: any); it is announced so peers (and later the seed's boot-storm redirect) can use it.
 */
export interface BlobServiceOptions {
  site: string;
  store: PieceStore;
  http?: { host: string; port?: number } | false;
  /**
   * Transport for pulling pieces from peers: `http` (default, the measured winner: see README) uses
   * a holder's announced HTTP piece server and falls back to libp2p for a holder without one.
   */
  transport?: PeerTransport;
  uploads?: Partial<UploadLimits>;
  /** Pieces in flight per fetch (default 8) and per holder (default 2). */
  concurrency?: number;
  perHolder?: number;
  /** A peer piece slower than this is abandoned and asked elsewhere / of the seed, ms (default 5000). */
  pieceTimeoutMs?: number;
  /** Every this many ms, re-announce held blobs not announced for 3 × this (default 10 000). */
  announceEveryMs?: number;
  /**
   * New pieces of a blob are announced at most once per this many ms (default 250 on gossip, where
   * every message costs each receiver a signature check; 100 when pushed to the tracker).
   */
  announcePieceMs?: number;
  /** Agents connect to holders they hear of until they have this many peers besides the seed (default 8). */
  meshPeers?: number;
}
