// The seed: one process composing its parts (DESIGN §1): the store — a managed private etcd by
// default, or an existing cluster — and the state-dir file that tells local CLI commands where it
// is; the swarm node on the provisioning address (progress gossip into etcd; its addresses go on
// the agents' kernel command line); HTTP (boot scripts, artifacts, mirror, first-boot reports),
// TFTP and DHCP.
import { join } from 'node:path';
import { ErrorCode, LpmosError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { Keys } from '../core/keys.ts';
import type { Store } from '../core/store/store.ts';
import { MANAGED_MAX_TXN_OPS, ManagedEtcd } from '../store/managed-etcd.ts';
import { openStore, parseEtcdEndpoints, type OpenStoreOptions } from '../store/connect.ts';
import type { SeedConfig } from './config.ts';
import { removeSeedInfo, writeSeedInfo } from './state-dir.ts';
import type { DynamicFiles, TftpServer } from './tftp/server.ts';
import type { HttpServer } from './http/server.ts';
import type { DhcpServer } from './dhcp/server.ts';
import type { EtcdGrpcProxy } from '../store/etcd-grpc-proxy.ts';
import type { SeedSwarm } from '../swarm/seed-swarm.ts';
import type { BootOffload } from './offload.ts';
import type { RootImageBuilds } from './rootfs/builds.ts';
import type { BlobExchange } from '../swarm/blobs/api.ts';

export interface SeedDeps {
  logger: Logger;
}

export class Seed {
  readonly config: SeedConfig;
  readonly keys: Keys;
  readonly #log: Logger;
  #etcd: ManagedEtcd | undefined;
  #store: Store | undefined;
  #tftp: TftpServer | undefined;
  #http: HttpServer | undefined;
  #dhcp: DhcpServer | undefined;
  #proxy: EtcdGrpcProxy | undefined;
  #swarm: SeedSwarm | undefined;
  #rootfs: RootImageBuilds | undefined;
  #endpoints: string[] = [];

  constructor(config: SeedConfig, deps: SeedDeps) {
    this.config = config;
    this.keys = new Keys(config.prefix, config.site);
    this.#log = deps.logger;
  }

  get store(): Store {
    if (!this.#store) throw new LpmosError(ErrorCode.Internal, 'seed not started');
    return this.#store;
  }

  get etcdEndpoints(): string[] {
    return [...this.#endpoints];
  }

  /** The HTTP server, when --http-port or --http-artifacts started one. */
  get http(): HttpServer | undefined {
    return this.#http;
  }

  /** The swarm node, when --address is given and --swarm is not off (blob exchange joins it later). */
  get swarm(): SeedSwarm | undefined {
    return this.#swarm;
  }

  /** The managed etcd's client URL on the provisioning address (--address, --etcd-agent-port), for agents. */
  get #agentEtcdUrl(): string | undefined {
    const c = this.config;
    return c.address && c.etcdAgentPort > 0 ? `http://${c.address}:${c.etcdAgentPort}` : undefined;
  }

  get managedEtcd(): ManagedEtcd | undefined {
    return this.#etcd;
  }

  async start(signal?: AbortSignal): Promise<void> {
    const c = this.config;
    try {
      if (c.etcd) {
        this.#endpoints = parseEtcdEndpoints(c.etcd, '--etcd');
        // Agents reach an external cluster through an etcd gRPC proxy on the provisioning address.
        if (this.#agentEtcdUrl && !c.agentEtcd && c.address) {
          const { EtcdGrpcProxy } = await import('../store/etcd-grpc-proxy.ts');
          this.#proxy = new EtcdGrpcProxy({
            endpoints: this.#endpoints,
            listen: `${c.address}:${c.etcdAgentPort}`,
            logFile: join(c.stateDir, 'etcd-grpc-proxy.log'),
            binary: c.etcdBinary,
            logger: this.#log,
            ...(c.etcdCa || c.etcdCert || c.etcdKey ? { tls: { ...(c.etcdCa ? { caFile: c.etcdCa } : {}), ...(c.etcdCert ? { certFile: c.etcdCert } : {}), ...(c.etcdKey ? { keyFile: c.etcdKey } : {}) } } : {}),
          });
          await this.#proxy.start(signal);
        }
      } else {
        this.#etcd = new ManagedEtcd({ stateDir: c.stateDir, binary: c.etcdBinary, logger: this.#log, ...(this.#agentEtcdUrl ? { extraClientUrls: [this.#agentEtcdUrl] } : {}) });
        await this.#etcd.start(signal);
        this.#endpoints = this.#etcd.clientUrls;
      }
      const opts: OpenStoreOptions = {
        endpoints: this.#endpoints,
        logger: this.#log,
        ...(c.etcdCa || c.etcdCert || c.etcdKey ? { tls: { ...(c.etcdCa ? { caFile: c.etcdCa } : {}), ...(c.etcdCert ? { certFile: c.etcdCert } : {}), ...(c.etcdKey ? { keyFile: c.etcdKey } : {}) } } : {}),
        ...(c.etcdUser !== undefined && c.etcdPassword !== undefined ? { auth: { username: c.etcdUser, password: c.etcdPassword } } : {}),
        ...(signal ? { signal } : {}),
      };
      this.#store = await openStore(opts);
      await this.#startSwarm(this.#store, signal);
      const swarmBootstrap = c.swarmBootstrap ?? this.#swarm?.bootstrapAddrs().join(',');
      if (c.httpPort !== undefined || c.httpArtifacts) {
        const { startHttp } = await import('./http/server.ts');
        const { MirrorCache } = await import('./mirror/cache.ts');
        const { parseMirrorSetting, readHostSources } = await import('./mirror/setting.ts');
        const mirrorOptions = {
          dir: c.mirrorDir ?? join(c.stateDir, 'mirror'),
          upstreams: parseMirrorSetting(c.mirror, c.mirror === 'auto' ? await readHostSources() : []),
          indexMaxAgeSeconds: c.mirrorIndexMaxAge,
          logger: this.#log.child({ component: 'mirror' }),
        };
        // With the blob exchange on, big package files become blobs the seed can describe (seed/blobs-mirror.ts).
        const seedBlobs = this.#swarm?.blobs;
        const mirror = seedBlobs
          ? new (await import('./blobs-mirror.ts')).SwarmMirrorCache(mirrorOptions, seedBlobs, { logger: this.#log.child({ component: 'mirror-blobs' }) })
          : new MirrorCache(mirrorOptions);
        this.#http = await startHttp(
          {
            port: c.httpPort ?? 8080,
            ...(c.httpAddress ? { address: c.httpAddress } : {}),
            ...(c.httpArtifacts ? { artifacts: c.httpArtifacts } : {}),
            ...(c.httpPublicUrl ? { publicUrl: c.httpPublicUrl } : {}),
            ...(c.httpConsole !== undefined ? { console: c.httpConsole } : {}),
            ...(c.httpCmdline !== undefined ? { cmdline: c.httpCmdline } : {}),
            ...(swarmBootstrap ? { swarmBootstrap } : {}),
            ...(c.agentEtcd ? { agentEtcd: c.agentEtcd } : (this.#etcd || this.#proxy) && this.#agentEtcdUrl ? { agentEtcd: [this.#agentEtcdUrl] } : {}),
          },
          { logger: this.#log.child({ component: 'http' }), store: this.#store, keys: this.keys, site: c.site, prefix: c.prefix, etcdEndpoints: this.#endpoints, mirror, offload: await this.#bootOffload(), rootfs: await this.#rootImages(c, seedBlobs, () => this.#http) },
        );
        const blobs = this.#swarm?.blobs;
        if (blobs) {
          const { describeBootFiles } = await import('./offload-blobs.ts');
          const h = this.#http;
          void describeBootFiles(blobs, h.artifacts, [h.config.agentKernel, h.config.agentInitrd], this.#log.child({ component: 'boot-offload' }));
          const { renderSeedBlobStats } = await import('./blobs-metrics.ts');
          this.#http.metrics.collectors.push(() => renderSeedBlobStats(blobs.stats));
        }
      }
      await writeSeedInfo(c.stateDir, {
        pid: process.pid,
        site: c.site,
        prefix: c.prefix,
        startedAt: new Date().toISOString(),
        etcd: { endpoints: this.#endpoints, managed: this.#etcd !== undefined, ...(this.#etcd ? { maxTxnOps: MANAGED_MAX_TXN_OPS } : {}) },
      });
      if (c.tftpRoot) {
        const address = c.tftpAddress ?? c.address;
        if (!address) throw new LpmosError(ErrorCode.Usage, '--tftp-root needs --tftp-address (or --address): the provisioning address to serve on, never every interface by accident');
        const { startTftp } = await import('./tftp/server.ts');
        this.#tftp = await startTftp(
          { root: c.tftpRoot, address, port: c.tftpPort, maxTransfers: c.tftpMaxTransfers, spinUs: c.tftpSpinUs },
          { log: this.#log.child({ component: 'tftp' }), ...(signal ? { signal } : {}), ...(this.#http ? { dynamic: await this.#tftpMenus(this.#http, address) } : {}) },
        );
      }
      // DHCP only on the interface the operator names (startDhcp stays off and says so otherwise).
      const { startDhcp } = await import('./dhcp/server.ts');
      this.#dhcp = await startDhcp(
        {
          dhcp: c.dhcp, interface: c.interface, address: c.address, dhcpRange: c.dhcpRange, dhcpLeaseTime: c.dhcpLeaseTime,
          dhcpRouter: c.dhcpRouter, dhcpDns: c.dhcpDns, dhcpDomain: c.dhcpDomain, dhcpKnownOnly: c.dhcpKnownOnly,
          dhcpUefiLoader: c.dhcpUefiLoader, httpPort: c.httpPort ?? 8080, httpPublicUrl: c.httpPublicUrl,
        },
        { store: this.#store, keys: this.keys, logger: this.#log.child({ component: 'dhcp' }) },
        signal,
      );
      this.#log.info({ etcd: this.#endpoints, managed: this.#etcd !== undefined, site: c.site, stateDir: c.stateDir, ...(this.#swarm ? { peerId: this.#swarm.peerId } : {}) }, 'seed ready');
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /**
   * The swarm node on the provisioning address, with its identity in the state directory (agents
   * find it by the peer id on their command line, so it survives restarts). Only on --address:
   * never on every interface, and not on loopback either (two seeds on one host would collide).
   */
  async #startSwarm(store: Store, signal?: AbortSignal): Promise<void> {
    const c = this.config;
    if (c.swarm === 'off') {
      this.#log.info('swarm off (--swarm off): no progress collection over gossip');
      return;
    }
    if (!c.address) {
      this.#log.info('swarm not started: it listens on the provisioning address, give --address');
      return;
    }
    const { SeedSwarm } = await import('../swarm/seed-swarm.ts');
    try {
      this.#swarm = await SeedSwarm.start(
        // The blob exchange in the seed's role: it answers manifests and indexes who holds what.
        { store, keys: this.keys, site: c.site, stateDir: c.stateDir, listen: [`/ip4/${c.address}/tcp/${c.swarmPort}`], logger: this.#log.child({ component: 'swarm' }), blobs: { dir: join(c.stateDir, 'blobs') } },
        signal,
      );
    } catch (e) {
      if (e instanceof LpmosError) throw e;
      throw new LpmosError(ErrorCode.Unavailable, `swarm: cannot listen on --address ${c.address} --swarm-port ${c.swarmPort}: ${(e as Error).message}`, { cause: e });
    }
    this.#log.info({ peerId: this.#swarm.peerId, bootstrap: this.#swarm.bootstrapAddrs() }, 'swarm ready');
  }

  /** Boot-storm offload: counts the seed's copies of the agent files always, redirects only with the swarm's blob exchange. */
  async #bootOffload(): Promise<BootOffload> {
    const c = this.config;
    const { BootOffload, provisioningNetworks } = await import('./offload.ts');
    const holders = this.#swarm?.blobs;
    const on = c.bootOffload === 'on' && holders !== undefined;
    const networks = provisioningNetworks(c.address, c.dhcpRange);
    this.#log.info({ on, networks }, on ? 'boot offload on: agent kernel and ramdisk from agents that hold them' : 'boot offload off: the seed serves every boot file');
    const node = this.#swarm?.swarm.node;
    return new BootOffload({
      on, networks,
      ...(holders ? { holders, manifests: (sha: string) => (holders.store.get(sha)?.complete ? holders.store.get(sha)?.manifest : undefined) } : {}),
      ...(node ? { alive: (p: string) => node.isConnected(p) } : {}),
    });
  }

  /**
   * Root images built from the seed's own mirror (seed/rootfs/builds.ts); with the swarm on, each
   * finished image becomes a blob of the seed's exchange, so machines take its pieces from each other.
   */
  async #rootImages(c: SeedConfig, blobs: BlobExchange | undefined, http: () => HttpServer | undefined): Promise<RootImageBuilds> {
    const { RootImageBuilds } = await import('./rootfs/builds.ts');
    const log = this.#log.child({ component: 'rootfs' });
    this.#rootfs = new RootImageBuilds({
      dir: c.rootfsDir ?? join(c.stateDir, 'rootfs'),
      mirrorUrl: (os) => {
        const h = http();
        if (!h) throw new LpmosError(ErrorCode.Unavailable, 'the HTTP server is not running: no mirror to build from');
        const host = !h.config.address || h.config.address === '0.0.0.0' || h.config.address === '::' ? '127.0.0.1' : h.config.address;
        return `http://${host.includes(':') ? `[${host}]` : host}:${h.port}/mirror/${os}`;
      },
      logger: log,
      ...(blobs ? { onBuilt: async (file: string) => { await blobs.add(file, { pin: true }); } } : {}),
    });
    return this.#rootfs;
  }

  /**
   * Per-machine pxelinux/GRUB menus over TFTP (seed/tftp/boot-menus.ts), with the same script
   * settings as the HTTP server's menus: the agent comes from that server, reached on the TFTP address.
   */
  async #tftpMenus(http: HttpServer, tftpAddress: string): Promise<DynamicFiles> {
    const { BootMenus } = await import('./tftp/boot-menus.ts');
    const { storeBootPort } = await import('./tftp/machine-port.ts');
    const c = this.config;
    const h = http.config;
    return new BootMenus(storeBootPort(this.store, this.keys), () => ({
      seedUrl: (h.publicUrl ?? `http://${tftpAddress}:${http.port}`).replace(/\/+$/, ''),
      etcd: h.agentEtcd ?? this.#endpoints,
      site: c.site,
      prefix: c.prefix,
      swarmBootstrap: h.swarmBootstrap,
      agentKernel: h.agentKernel,
      agentInitrd: h.agentInitrd,
      console: h.console,
      cmdline: h.cmdline,
    }));
  }

  async stop(): Promise<void> {
    await this.#dhcp?.stop();
    this.#dhcp = undefined;
    await this.#http?.stop();
    await this.#rootfs?.stop();
    this.#http = undefined;
    await this.#tftp?.stop();
    this.#tftp = undefined;
    // Before the store closes: the collector writes what it still holds.
    await this.#swarm?.stop().catch((e: unknown) => this.#log.warn({ err: e }, 'swarm stop failed'));
    this.#swarm = undefined;
    await removeSeedInfo(this.config.stateDir).catch(() => undefined);
    await this.#store?.close().catch(() => undefined);
    this.#store = undefined;
    await this.#proxy?.stop();
    this.#proxy = undefined;
    await this.#etcd?.stop();
    this.#etcd = undefined;
  }
}
