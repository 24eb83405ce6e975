// What the benchmark's processes tell each other: one JSON object per line on stdout (workers →
// orchestrator) and on stdin (orchestrator → workers).
import type { BlobManifest } from '../../swarm/blobs/api.ts';
import type { CpuSplit } from './profile.ts';

/** One file of the set as the seed publishes it (`GET /set.json`). */
export interface SetFile {
  name: string;
  size: number;
  sha256: string;
  /** The blob exchange's manifest (pieces and their hashes), from the seed's BlobExchange.add. */
  manifest: BlobManifest;
}

export interface SeedReady {
  type: 'seed-ready';
  etcd: string[];
  http: string;
  bootstrap: string[];
  files: number;
  bytes: number;
}

export interface SeedStats {
  type: 'seed-stats';
  /** Bytes the seed's HTTP server wrote to sockets (headers included). */
  httpBytes: number;
  /** The seed's blob exchange counters (it serves no pieces itself: agents fall back to its HTTP). */
  bytesServedToPeers: number;
  /** The seed's tracker counters (BlobService.tracker), since it started. */
  tracker?: Record<string, number>;
  /** process.cpuUsage() of the seed, µs (user + system), since it started. */
  cpuMicros: number;
  /** The same CPU split by kind and thread, since it started. */
  split?: CpuSplit;
}

export interface AgentReady {
  type: 'agent-ready';
  index: number;
  /** ms from process start to ready (libp2p node up, enrolled, connected to the seed). */
  startMs: number;
}

export interface AgentDone {
  type: 'agent-done';
  index: number;
  /** Wall clock (Date.now()) when the last file was complete and verified. */
  end: number;
  bytes: number;
  fromSeed: number;
  fromPeers: number;
  servedToPeers: number;
  badPieces: number;
  /** process.cpuUsage() between go and done, µs (user + system). */
  cpuMicros: number;
  /** The same CPU by kind and thread (profile.ts). */
  split?: CpuSplit;
  /** V8 heap in use at done, bytes (piece buffers are outside it). */
  heapUsed?: number;
  /** Range GETs of the fetcher between go and done: responses, body chunks ('data' events), bytes. */
  http?: { responses: number; chunks: number; bytes: number };
  /** Have announcements this agent published and received (gossipsub, each one signed and verified). */
  haveSent: number;
  haveReceived: number;
  /** The agent's tracker counters (BlobService.tracker) and pieces it took from the seed. */
  tracker?: Record<string, number>;
  /** Median wall time of one fetch of a file under 1 MiB (one piece: the protocol's latency), and of the largest file. */
  smallFileSeconds: number;
  biggestFileSeconds: number;
  /** Plain HTTP (mode http): fetches that failed on the network and were started again (a client like apt or curl --retry would). */
  retries?: number;
}

export interface AgentFailed {
  type: 'agent-failed';
  index: number;
  error: string;
}

export type WorkerMessage = SeedReady | SeedStats | AgentReady | AgentDone | AgentFailed;

export type Command = { type: 'go'; at: number } | { type: 'stats' } | { type: 'stop' } | { type: 'profile-start' } | { type: 'profile-stop'; path: string };
