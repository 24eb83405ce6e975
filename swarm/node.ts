// The swarm's libp2p node (DESIGN §4): TCP, noise, yamux, identify, ping and gossipsub, guarded by
// an allow-list gater. Bootstrap peers (the seed, from the kernel command line) are redialled for
// as long as the node runs — libp2p's own reconnect queue gives up after five tries, and an agent
// must find the seed again after any partition. mDNS is off unless asked for (multicast is often
// not routed between racks, and it announces us to whoever listens).
import { gossipsub, type GossipSub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface';
import { mdns } from '@libp2p/mdns';
import { noise } from '@libp2p/noise';
import { peerIdFromString } from '@libp2p/peer-id';
import { ping, type Ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { ErrorCode, LpmosError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import { allowListGater, type PeerFilter } from './gater.ts';
import { loadOrCreateIdentity, newIdentity } from './identity.ts';
import { fastMsgId } from './msg-id.ts';

/** gossipsub mesh degree: target, low and high water marks, outbound quota, lazy gossip fan-out. */
export const MESH = { D: 4, Dlo: 3, Dhi: 6, Dout: 1, Dlazy: 4 } as const;

export interface SwarmServices extends Record<string, unknown> {
  pubsub: GossipSub;
  ping: Ping;
  identify: unknown;
}

export interface SwarmNodeOptions {
  /** Where the key lives: a directory (file `swarm-key`), `memory` (new key each start), or a key. */
  identity: { dir: string } | 'memory' | PrivateKey;
  /** Listen multiaddrs; default all IPv4 addresses on a random TCP port. */
  listen?: string[];
  /** Peers to keep connected to, as multiaddrs ending in /p2p/<peer id>. */
  bootstrap?: string[];
  /** Redial interval for bootstrap peers that are not connected, ms. */
  redialMs?: number;
  mdns?: boolean;
  /**
   * Connection limit. libp2p's default (300) is below a large site's agent count, and every agent
   * keeps a connection to the seed for progress. Default 2048.
   */
  maxConnections?: number;
  /** The gater's allow-list: may this peer id connect (or be dialled)? */
  allow: PeerFilter;
  logger?: Logger;
}

interface BootstrapPeer {
  id: PeerId;
  addr: Multiaddr;
}

function parseBootstrap(list: string[]): BootstrapPeer[] {
  return list.map((text) => {
    let addr: Multiaddr;
    try {
      addr = multiaddr(text);
    } catch (e) {
      throw new LpmosError(ErrorCode.Usage, `bootstrap address "${text}" is not a multiaddr`, { cause: e });
    }
    const id = addr.getComponents().findLast((c) => c.name === 'p2p')?.value;
    if (!id) throw new LpmosError(ErrorCode.Usage, `bootstrap address "${text}" has no /p2p/<peer id>`);
    return { id: peerIdFromString(id), addr };
  });
}

export class SwarmNode {
  readonly libp2p: Libp2p<SwarmServices>;
  readonly #bootstrap: BootstrapPeer[];
  readonly #redialMs: number;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #dialing = false;
  #stop = new AbortController();

  private constructor(libp2p: Libp2p<SwarmServices>, bootstrap: BootstrapPeer[], redialMs: number, log: Logger) {
    this.libp2p = libp2p;
    this.#bootstrap = bootstrap;
    this.#redialMs = redialMs;
    this.#log = log;
  }

  /** Builds the node (not started). */
  static async create(opts: SwarmNodeOptions): Promise<SwarmNode> {
    const privateKey = opts.identity === 'memory' ? await newIdentity() : 'dir' in opts.identity ? await loadOrCreateIdentity(opts.identity.dir) : opts.identity;
    const bootstrap = parseBootstrap(opts.bootstrap ?? []);
    // Bootstrap peers are admitted by the gater too: the seed is never in etcd's peer list.
    const seeds = new Set(bootstrap.map((b) => b.id.toString()));
    const allow: PeerFilter = (p) => seeds.has(p) || opts.allow(p);
    const libp2p = await createLibp2p<SwarmServices>({
      privateKey,
      start: false,
      addresses: { listen: opts.listen ?? ['/ip4/0.0.0.0/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: allowListGater(allow),
      // A boot storm dials the seed all at once: more handshakes in flight than libp2p's 10.
      connectionManager: { maxConnections: opts.maxConnections ?? 2048, maxIncomingPendingConnections: 128 },
      // A connection is judged dead when a ping takes longer than an adaptive timeout of at least 5 s:
      // an agent starved of CPU (emulated, or busy unpacking packages) missed that, lost its connection
      // to the seed and paid a new handshake every minute. TCP and the redial still catch dead peers.
      connectionMonitor: { pingInterval: 15_000, pingTimeout: { minTimeout: 30_000, maxTimeout: 120_000 } },
      peerDiscovery: opts.mdns ? [mdns()] : [],
      services: {
        identify: identify(),
        ping: ping(),
        // StrictSign (the default): every message carries its author's peer id and signature, and
        // gossipsub drops messages whose signature does not verify. Publishing with no subscriber
        // connected is not an error: the progress publisher resends what was not acknowledged.
        // IP colocation scoring (P6) is off: every peer is enrolled and authenticated, and with its
        // default (-5 × (peers on one IP beyond 10)², graylisted below -80) 32 agents behind one
        // address were graylisted and every message they sent was ignored (measured on loopback).
        // fastMsgIdFn: a forwarded copy of a message already seen is dropped before its signature is
        // verified again (msg-id.ts; measured: that verify was the largest CPU cost of an agent).
        // A smaller mesh than gossipsub's 6/4/12: every agent receives each message about once per
        // mesh peer, and each copy costs a noise decrypt, a yamux window update and a decode —
        // with every agent announcing every file it completes, copies were most of an agent's CPU
        // (bench:swarm profiles). Four peers still reach 64 agents in three hops.
        pubsub: gossipsub({ ...MESH, allowPublishToZeroTopicPeers: true, emitSelf: false, fastMsgIdFn: fastMsgId, scoreParams: { IPColocationFactorWeight: 0 } }),
      },
    });
    return new SwarmNode(libp2p, bootstrap, opts.redialMs ?? 2000, opts.logger ?? silentLogger());
  }

  get peerId(): string {
    return this.libp2p.peerId.toString();
  }

  get pubsub(): GossipSub {
    return this.libp2p.services.pubsub;
  }

  /** Listening addresses with /p2p/<peer id>: what others bootstrap from. */
  addrs(): string[] {
    return this.libp2p.getMultiaddrs().map(String);
  }

  async start(): Promise<void> {
    this.#stop = new AbortController();
    await this.libp2p.start();
    this.#log.info({ peerId: this.peerId, addrs: this.addrs() }, 'swarm node started');
    if (this.#bootstrap.length > 0) {
      void this.#redial();
      this.#timer = setInterval(() => void this.#redial(), this.#redialMs);
      this.#timer.unref();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stop.abort();
    await this.libp2p.stop();
  }

  isConnected(peerId: string): boolean {
    return this.libp2p.getConnections(peerIdFromString(peerId)).length > 0;
  }

  /** Closes every connection to a peer (e.g. one whose enrollment was deleted). */
  async hangUp(peerId: string): Promise<void> {
    await this.libp2p.hangUp(peerIdFromString(peerId));
  }

  async dial(addr: string, signal?: AbortSignal): Promise<void> {
    await this.libp2p.dial(multiaddr(addr), signal ? { signal } : {});
  }

  async #redial(): Promise<void> {
    if (this.#dialing) return;
    this.#dialing = true;
    try {
      for (const b of this.#bootstrap) {
        if (this.#stop.signal.aborted) return;
        if (this.libp2p.getConnections(b.id).length > 0) continue;
        try {
          // A handshake on a slow machine takes seconds: give it time rather than abort and start over.
          await this.libp2p.dial(b.addr, { signal: AbortSignal.any([this.#stop.signal, AbortSignal.timeout(Math.max(this.#redialMs * 2, 30_000))]) });
          this.#log.info({ peer: b.id.toString() }, 'connected to bootstrap peer');
        } catch (e) {
          this.#log.debug({ peer: b.id.toString(), err: (e as Error).message }, 'bootstrap peer not reachable; will retry');
        }
      }
    } finally {
      this.#dialing = false;
    }
  }
}
