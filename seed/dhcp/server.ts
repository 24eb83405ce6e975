// The DHCP server: the only file with sockets. Listens on port 67 (and 4011 in proxy mode) of the
// provisioning interface only (udp-device.ts), decodes, rate-limits per MAC, runs the handler one
// request at a time per MAC, encodes and sends the reply where RFC 2131 §4.1 says. A packet
// handler never throws into the receive loop: every failure is logged, counted and dropped.
import type dgram from 'node:dgram';
import type { Logger } from '../../core/log.ts';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import type { Keys } from '../../core/keys.ts';
import type { Store } from '../../core/store/store.ts';
import { encode, macOf, maxReplySize, tryDecode, type DhcpMessage } from './codec.ts';
import { dhcpConfigSchema, type DhcpConfig, type DhcpFlags } from './config.ts';
import { DhcpHandler } from './handler.ts';
import { LeaseRepository } from './leases.ts';
import { StoreMachines } from './machines.ts';
import { msgTypeName } from './options.ts';
import { replyDestination } from './plan.ts';
import type { MachinePort } from './ports.ts';
import { RateLimiter } from './ratelimit.ts';
import { openDeviceSocket } from './udp-device.ts';

export interface DhcpDeps {
  store: Store;
  keys: Keys;
  logger: Logger;
  /** Defaults to the store-backed machine index. */
  machines?: MachinePort;
  /** Called with every reply sent (observability, tests). Must not throw. */
  onReply?: (reply: DhcpMessage, dest: { address: string; port: number }) => void;
  /** Opens the sockets; defaults to SO_BINDTODEVICE sockets on `config.interface`. */
  openSocket?: (port: number, address?: string) => Promise<dgram.Socket>;
}

export const COUNTERS = [
  'received', 'malformed', 'rateLimited', 'overloaded', 'dropped', 'offers', 'acks', 'naks', 'releases', 'declines', 'errors', 'sent', 'sendErrors',
] as const;
export type Counters = Record<(typeof COUNTERS)[number], number>;

/** At most this many requests in the handler at once; beyond it packets are dropped (flood guard). */
const MAX_IN_FLIGHT = 2048;

export class DhcpServer {
  readonly config: DhcpConfig;
  readonly counters: Counters = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Counters;
  readonly leases: LeaseRepository;
  readonly #deps: DhcpDeps;
  readonly #log: Logger;
  readonly #machines: MachinePort;
  readonly #ownMachines: StoreMachines | undefined;
  readonly #handler: DhcpHandler;
  readonly #limiter: RateLimiter;
  readonly #sockets = new Map<number, dgram.Socket>();
  /** Tail of each MAC's request chain: requests of one client run in order, one at a time. */
  readonly #chains = new Map<string, Promise<void>>();
  #inFlight = 0;
  #stop = new AbortController();
  #sweep: NodeJS.Timeout | undefined;

  constructor(config: DhcpConfig, deps: DhcpDeps) {
    this.config = config;
    this.#deps = deps;
    this.#log = deps.logger;
    this.leases = new LeaseRepository(deps.store, deps.keys, deps.logger);
    this.#ownMachines = deps.machines ? undefined : new StoreMachines(deps.store, deps.keys, deps.logger);
    this.#machines = deps.machines ?? this.#ownMachines!;
    this.#handler = new DhcpHandler(config, { leases: this.leases, machines: this.#machines, logger: deps.logger });
    this.#limiter = new RateLimiter(config.rateLimit.perSecond, config.rateLimit.burst);
  }

  get ports(): number[] {
    return [...this.#sockets.keys()];
  }

  async start(signal?: AbortSignal): Promise<void> {
    const c = this.config;
    if (c.mode === 'off') return;
    this.#stop = new AbortController();
    try {
      if (c.mode === 'full') {
        const n = await this.leases.load(signal);
        this.leases.follow(this.leases.revision + 1, this.#stop.signal);
        this.#log.info({ leases: n }, 'dhcp: leases loaded');
      }
      await this.#ownMachines?.start(signal);
      const ports = c.mode === 'proxy' ? [c.serverPort, c.proxyPort] : [c.serverPort];
      for (const port of ports) {
        const open = this.#deps.openSocket ?? ((p: number, address?: string) => openDeviceSocket({ iface: c.interface!, port: p, ...(address ? { address } : {}) }));
        // Port 4011 is unicast only (PXE boot server discovery): bound to the seed's address, so
        // replies leave from the address the client asked, even when it is not the primary one.
        const sock = await open(port, port === c.proxyPort ? c.address : undefined);
        // Boot storms arrive in bursts: a larger receive buffer (capped by net.core.rmem_max) drops less.
        try { sock.setRecvBufferSize(4 * 1024 * 1024); } catch { /* keep the default */ }
        sock.on('message', (buf, rinfo) => this.#receive(port, buf, rinfo));
        sock.on('error', (e) => { this.counters.errors++; this.#log.error({ err: e, port }, 'dhcp: socket error'); });
        this.#sockets.set(port, sock);
      }
      this.#sweep = setInterval(() => {
        const now = Date.now();
        this.leases.table.sweep(now);
        this.#limiter.prune(now);
      }, 10_000);
      this.#sweep.unref();
      this.#log.info({ mode: c.mode, interface: c.interface, address: c.address, ports, subnets: c.subnets.map((s) => `${s.network}/${s.prefix}`) }, 'dhcp: serving');
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    if (this.#sweep) clearInterval(this.#sweep);
    this.#ownMachines?.stop();
    for (const s of this.#sockets.values()) await new Promise<void>((r) => { try { s.close(() => r()); } catch { r(); } });
    this.#sockets.clear();
    await Promise.allSettled([...this.#chains.values()]);
  }

  #receive(port: number, buf: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.received++;
    const r = tryDecode(buf);
    if (!r.ok) {
      this.counters.malformed++;
      this.#log.debug({ from: rinfo.address, err: r.error }, 'dhcp: malformed packet dropped');
      return;
    }
    const req = r.msg;
    const mac = macOf(req);
    if (!this.#limiter.allow(mac, Date.now())) { this.counters.rateLimited++; return; }
    if (this.#inFlight >= MAX_IN_FLIGHT) { this.counters.overloaded++; return; }
    this.#inFlight++;
    const prev = this.#chains.get(mac) ?? Promise.resolve();
    const next = prev.then(() => this.#process(port, req, rinfo)).finally(() => {
      this.#inFlight--;
      if (this.#chains.get(mac) === next) this.#chains.delete(mac);
    });
    this.#chains.set(mac, next);
  }

  async #process(port: number, req: DhcpMessage, rinfo: dgram.RemoteInfo): Promise<void> {
    try {
      const out = await this.#handler.handle(req, port, this.#stop.signal);
      const type = out.info?.messageType;
      const ctx = { mac: out.info?.mac, type: type === undefined ? undefined : msgTypeName[type], giaddr: req.giaddr !== '0.0.0.0' ? req.giaddr : undefined };
      if (!out.reply) {
        if (out.kind === 'release') this.counters.releases++;
        else if (out.kind === 'decline') this.counters.declines++;
        else this.counters.dropped++;
        this.#log.debug({ ...ctx, reason: out.reason }, `dhcp: ${out.kind}`);
        return;
      }
      this.counters[out.kind === 'offer' ? 'offers' : out.kind === 'ack' ? 'acks' : 'naks']++;
      const bytes = encode(out.reply);
      if (bytes.length > maxReplySize(req)) this.#log.warn({ ...ctx, size: bytes.length }, 'dhcp: reply larger than the client accepts');
      const dest = replyDestination(req, out.reply, { address: rinfo.address, port: rinfo.port }, port, this.config.serverPort);
      const sock = this.#sockets.get(port);
      if (!sock) return;
      await new Promise<void>((resolve) => {
        sock.send(bytes, dest.port, dest.address, (err) => {
          if (err) { this.counters.sendErrors++; this.#log.warn({ ...ctx, err, dest }, 'dhcp: send failed'); } else {
            this.counters.sent++;
            try { this.#deps.onReply?.(out.reply, dest); } catch { /* observers never break the loop */ }
          }
          resolve();
        });
      });
      this.#log.debug({ ...ctx, reply: out.kind, yiaddr: out.reply.yiaddr, file: out.reply.file || undefined, dest: `${dest.address}:${dest.port}` }, 'dhcp: reply');
    } catch (e) {
      if (this.#stop.signal.aborted) return;
      this.counters.errors++;
      this.#log.error({ err: e, mac: macOf(req) }, 'dhcp: request failed; dropped');
    }
  }
}

/** Validates the flags; errors name the flag (`--dhcp-range: ...`), as the CLI prints them. */
export function parseDhcpFlags(flags: DhcpFlags): DhcpConfig {
  const r = dhcpConfigSchema.safeParse(flags);
  if (r.success) return r.data;
  throw new LpmosError(ErrorCode.Usage, 'invalid DHCP configuration', {
    details: r.error.issues.map((i) => ({ path: `--${String(i.path[0] ?? 'dhcp').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, message: i.message })),
  });
}

/**
 * Starts DHCP from its flags. Returns undefined (and says why) when DHCP is off; without
 * `--interface` DHCP stays off — a seed never answers DHCP on an interface nobody named.
 */
export async function startDhcp(flags: DhcpFlags | DhcpConfig, deps: DhcpDeps, signal?: AbortSignal): Promise<DhcpServer | undefined> {
  if (!('subnets' in flags) && (flags.dhcp ?? 'off') === 'off') {
    deps.logger.info('dhcp: off (use --dhcp full|proxy with --interface IF to serve PXE)');
    return undefined;
  }
  const config = 'subnets' in flags ? flags : parseDhcpFlags(flags);
  if (config.mode === 'off') {
    deps.logger.info('dhcp: off (use --dhcp full|proxy with --interface IF to serve PXE)');
    return undefined;
  }
  if (!config.interface) {
    deps.logger.warn('dhcp: off because no --interface was given; the seed answers DHCP only on an interface you name');
    return undefined;
  }
  const server = new DhcpServer(config, deps);
  await server.start(signal);
  return server;
}
