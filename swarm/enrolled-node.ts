// A swarm node guarded by the enrolled-peer allow-list (the usual way to run one, seed or agent):
// the gater asks the list, and a peer whose enrollment is deleted is hung up on at once (the gater
// only sees new connections).
import type { Keys } from '../core/keys.ts';
import type { Store } from '../core/store/store.ts';
import { SwarmNode, type SwarmNodeOptions } from './node.ts';
import { PeerAllowList } from './peers/allow-list.ts';

export interface EnrolledNodeOptions extends Omit<SwarmNodeOptions, 'allow'> {
  store: Store;
  keys: Keys;
}

export class EnrolledSwarm {
  readonly node: SwarmNode;
  readonly peers: PeerAllowList;

  private constructor(node: SwarmNode, peers: PeerAllowList) {
    this.node = node;
    this.peers = peers;
  }

  /** Loads the allow-list, then starts the node (so no enrolled peer is refused at startup). */
  static async start(opts: EnrolledNodeOptions, signal?: AbortSignal): Promise<EnrolledSwarm> {
    const ref: { peers?: PeerAllowList } = {};
    const node = await SwarmNode.create({ ...opts, allow: (p) => ref.peers?.has(p) ?? false });
    const peers = (ref.peers = new PeerAllowList({ store: opts.store, keys: opts.keys, always: [node.peerId], ...(opts.logger ? { logger: opts.logger } : {}) }));
    peers.onRemoved((peerId) => {
      node.hangUp(peerId).catch(() => undefined);
    });
    await peers.start(signal);
    try {
      await node.start();
    } catch (e) {
      await peers.stop();
      throw e;
    }
    return new EnrolledSwarm(node, peers);
  }

  async stop(): Promise<void> {
    await this.node.stop();
    await this.peers.stop();
  }
}
