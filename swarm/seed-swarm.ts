// The seed's part of the swarm in one piece: a node with a persistent identity (agents find it by
// the peer id on their kernel command line), the enrolled-peer gater, and the progress collector
// that folds the site's progress gossip into etcd.
import type { Keys } from '../core/keys.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store/store.ts';
import { DiskPieceStore } from './blobs/disk-store.ts';
import { BlobService } from './blobs/service.ts';
import { EnrolledSwarm } from './enrolled-node.ts';
import { ProgressCollector, type CollectorOptions } from './progress/collector.ts';

export interface SeedSwarmOptions {
  store: Store;
  keys: Keys;
  site: string;
  /** Where the identity key file lives (the seed's state directory). */
  stateDir: string;
  /** Default: every IPv4 address, TCP port 4001. */
  listen?: string[];
  mdns?: boolean;
  logger?: Logger;
  collector?: Pick<CollectorOptions, 'coalesceMs' | 'gapTimeoutMs' | 'logLimit'>;
  /**
   * The blob exchange in the seed's role (swarm/blobs): pieces on disk in `dir`, manifests answered,
   * the tracker (agents push what they hold; who holds what also serves the boot-storm redirect). Off when absent.
   */
  blobs?: { dir: string; maxSeedGrants?: number };
}

export const DEFAULT_SWARM_PORT = 4001;

export class SeedSwarm {
  readonly swarm: EnrolledSwarm;
  readonly collector: ProgressCollector;
  readonly blobs: BlobService | undefined;

  private constructor(swarm: EnrolledSwarm, collector: ProgressCollector, blobs: BlobService | undefined) {
    this.swarm = swarm;
    this.collector = collector;
    this.blobs = blobs;
  }

  static async start(opts: SeedSwarmOptions, signal?: AbortSignal): Promise<SeedSwarm> {
    const swarm = await EnrolledSwarm.start(
      {
        store: opts.store,
        keys: opts.keys,
        identity: { dir: opts.stateDir },
        listen: opts.listen ?? [`/ip4/0.0.0.0/tcp/${DEFAULT_SWARM_PORT}`],
        ...(opts.mdns !== undefined ? { mdns: opts.mdns } : {}),
        ...(opts.logger ? { logger: opts.logger } : {}),
      },
      signal,
    );
    const collector = new ProgressCollector({
      pubsub: swarm.node.pubsub,
      store: opts.store,
      keys: opts.keys,
      site: opts.site,
      machineOf: (p) => swarm.peers.machineOf(p),
      ...opts.collector,
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    collector.start();
    let blobs: BlobService | undefined;
    if (opts.blobs) {
      try {
        const service = new BlobService(swarm.node, { site: opts.site, store: await DiskPieceStore.create({ dir: opts.blobs.dir }), role: 'seed', allowed: (p) => swarm.peers.has(p), ...(opts.blobs.maxSeedGrants ? { maxSeedGrants: opts.blobs.maxSeedGrants } : {}), ...(opts.logger ? { logger: opts.logger } : {}) });
        blobs = service;
        swarm.peers.onRemoved((peerId) => service.index.forgetPeer(peerId));
        await blobs.start();
      } catch (e) {
        await collector.stop();
        await swarm.stop();
        throw e;
      }
    }
    return new SeedSwarm(swarm, collector, blobs);
  }

  get peerId(): string {
    return this.swarm.node.peerId;
  }

  /** What agents bootstrap from (`lpmos.bootstrap=` on their kernel command line), loopback last. */
  bootstrapAddrs(): string[] {
    const addrs = this.swarm.node.addrs();
    return [...addrs.filter((a) => !a.startsWith('/ip4/127.')), ...addrs.filter((a) => a.startsWith('/ip4/127.'))];
  }

  async stop(): Promise<void> {
    await this.blobs?.stop();
    await this.collector.stop();
    await this.swarm.stop();
  }
}
