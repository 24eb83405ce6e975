// The agent's part of the swarm in one piece: a fresh identity for this boot, enrolled in etcd
// before the node starts (so the seed admits its first dial), the gated node bootstrapping from
// the seed, and a progress reporter numbering after what the seed already acknowledged.
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Keys } from '../core/keys.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store/store.ts';
import type { BlobServiceOptions, PeerTransport } from './blobs/api.ts';
import { MemoryPieceStore } from './blobs/memory-store.ts';
import { BlobService, type BlobServiceExtras } from './blobs/service.ts';
import { EnrolledSwarm } from './enrolled-node.ts';
import { newIdentity } from './identity.ts';
import { enrollPeer } from './peers/enroll.ts';
import type { ProgressInput } from './progress/publisher.ts';
import { ProgressReporter } from './progress/reporter.ts';

export interface AgentSwarmOptions {
  store: Store;
  keys: Keys;
  site: string;
  machine: string;
  /** The seed's multiaddrs with /p2p/<peer id> (kernel command line `lpmos.bootstrap=`). */
  bootstrap: string[];
  /** Default: every IPv4 address, a random TCP port. */
  listen?: string[];
  mdns?: boolean;
  logger?: Logger;
  /** Resend interval of unacknowledged progress, ms. */
  resendAfterMs?: number;
  /**
   * The blob exchange (swarm/blobs): pieces kept in memory within `budget` bytes, served to peers
   * over HTTP on `http` (e.g. the agent's address, port 0) and libp2p. Off when absent.
   */
  blobs?: { budget: number; http?: { host: string; port?: number }; transport?: PeerTransport } & Partial<Omit<BlobServiceOptions, 'site' | 'store' | 'http' | 'transport'>> & Omit<BlobServiceExtras, 'role' | 'logger' | 'tracker'> & {
      /**
       * The tracker's peer id (swarm/blobs/tracker.ts); default the first bootstrap address's
       * /p2p/ peer (the seed). `false`: gossip announcements to every agent instead.
       */
      tracker?: string | false;
    };
}

export class AgentSwarm {
  readonly swarm: EnrolledSwarm;
  readonly reporter: ProgressReporter;
  readonly blobs: BlobService | undefined;

  private constructor(swarm: EnrolledSwarm, reporter: ProgressReporter, blobs: BlobService | undefined) {
    this.swarm = swarm;
    this.reporter = reporter;
    this.blobs = blobs;
  }

  static async start(opts: AgentSwarmOptions, signal?: AbortSignal): Promise<AgentSwarm> {
    const key = await newIdentity();
    const peerId = peerIdFromPrivateKey(key).toString();
    await enrollPeer(opts.store, opts.keys, { peerId, machine: opts.machine, addrs: [] }, signal ? { signal } : {});
    const log = opts.logger ? { logger: opts.logger } : {};
    const swarm = await EnrolledSwarm.start(
      { store: opts.store, keys: opts.keys, identity: key, listen: opts.listen ?? ['/ip4/0.0.0.0/tcp/0'], bootstrap: opts.bootstrap, ...(opts.mdns !== undefined ? { mdns: opts.mdns } : {}), ...log },
      signal,
    );
    try {
      const reporter = await ProgressReporter.start(
        { pubsub: swarm.node.pubsub, store: opts.store, keys: opts.keys, site: opts.site, machine: opts.machine, ...(opts.resendAfterMs ? { resendAfterMs: opts.resendAfterMs } : {}), ...log },
        signal,
      );
      let blobs: BlobService | undefined;
      if (opts.blobs) {
        const { budget, tracker: t, ...rest } = opts.blobs;
        const tracker = t === false ? undefined : (t ?? opts.bootstrap.map((a) => a.split('/p2p/')[1]).find((p) => p));
        const service = new BlobService(swarm.node, { ...rest, ...(tracker ? { tracker } : {}), site: opts.site, store: new MemoryPieceStore({ budget }), allowed: (p) => swarm.peers.has(p), ...log });
        blobs = service;
        swarm.peers.onRemoved((peerId) => service.index.forgetPeer(peerId));
        try {
          await blobs.start();
        } catch (e) {
          await reporter.stop();
          throw e;
        }
      }
      return new AgentSwarm(swarm, reporter, blobs);
    } catch (e) {
      await swarm.stop();
      throw e;
    }
  }

  get peerId(): string {
    return this.swarm.node.peerId;
  }

  report(input: ProgressInput): void {
    this.reporter.report(input);
  }

  /** Waits (up to `ms`) until the seed acknowledged every event reported so far. True when it did. */
  async drain(ms: number): Promise<boolean> {
    this.reporter.publisher.flush();
    const end = Date.now() + ms;
    while (this.reporter.publisher.unacked().length > 0 && Date.now() < end) await sleep(50);
    return this.reporter.publisher.unacked().length === 0;
  }

  /** Waits (up to `drainMs`) until the seed acknowledged every event, then stops. True when drained. */
  async stop(drainMs = 5000): Promise<boolean> {
    const drained = await this.drain(drainMs);
    await this.reporter.stop();
    await this.blobs?.stop();
    await this.swarm.stop();
    return drained;
  }
}
