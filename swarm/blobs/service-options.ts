// What a BlobService is built with beyond BlobServiceOptions (api.ts), and its zeroed counters.
import type { Logger } from '../../core/log.ts';
import type { BlobStats } from './api.ts';
import type { DownloadTuning } from './download.ts';

export interface BlobServiceExtras {
  /** `seed`: no announcements, no piece serving to peers (default `agent`). */
  role?: 'agent' | 'seed';
  logger?: Logger;
  /** Download tuning beyond BlobServiceOptions (tests shorten timeouts). */
  tuning?: Partial<DownloadTuning>;
  /** Holder entries older than this are not used, ms (default 60 000). */
  holderTtlMs?: number;
  /** How long a fetch waits for have? answers before it starts, ms (default 1000). */
  discoverMs?: number;
  /**
   * Peers whose announcements count (AgentSwarm/SeedSwarm pass the enrollment allow-list). A
   * gossiped announcement can be relayed from an author we are not connected to; call
   * `index.forgetPeer` when a peer is unenrolled.
   */
  allowed?: (peerId: string) => boolean;
  /**
   * The tracker's peer id (the seed; AgentSwarm passes its bootstrap peer): announcements are pushed
   * to it instead of gossiped to everyone, and fetches ask it for holders (tracker.ts). Without it
   * an agent gossips its announcements and asks its connected peers have?.
   */
  tracker?: string;
  /** Tracker mode: a running download asks the tracker for holders at most this often, ms (default DEFAULT_TRACKER_POLL_MS, 1000). */
  trackerPollMs?: number;
  /** The seed as tracker: granted seed pieces in flight at most, fixed (default: tracker-server.ts grantCap of the rate the seed delivers at). */
  maxSeedGrants?: number;
}

/**
 * How often a running download asks the tracker for holders, ms (BlobServiceExtras.trackerPollMs).
 * 1000 since the seed's refusals name the holder of a refused piece (bench:swarm N = 32 at
 * 20 Mbit/s: 2.69–2.71× the bound against 2.89–3.07× with 500 ms, a third fewer queries).
 */
export const DEFAULT_TRACKER_POLL_MS = 1000;

export function emptyStats(): BlobStats {
  return { bytesFromSeed: 0, bytesFromPeers: 0, bytesServedToPeers: 0, piecesFromSeed: 0, piecesFromPeers: 0, piecesServed: 0, badPieces: 0, peersDropped: 0, uploadsRefused: 0, fetchesJoined: 0 };
}
