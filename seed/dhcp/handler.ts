// Per-message decisions of the server (RFC 2131 §4.3), without sockets: given a decoded request,
// returns the reply to send (or why nothing is sent). Leases and machines come in as ports.
import type { Logger } from '../../core/log.ts';
import { type DhcpMessage, getOption } from './codec.ts';
import { classify, type ClientInfo } from './classify.ts';
import { subnetContains, type DhcpConfig, type Subnet } from './config.ts';
import type { LeaseRepository } from './leases.ts';
import { MsgType, hex, ipToInt, msgTypeName, Opt } from './options.ts';
import { admit, planBoot, planReply, type BootPlan, type MachineView } from './plan.ts';
import type { MachinePort } from './ports.ts';
import { RateLimiter } from './ratelimit.ts';

export type Outcome =
  | { reply: DhcpMessage; kind: 'offer' | 'ack' | 'nak'; info: ClientInfo }
  | { reply?: undefined; kind: 'drop' | 'release' | 'decline'; reason: string; info?: ClientInfo };

export interface HandlerDeps {
  leases: LeaseRepository;
  machines: MachinePort;
  logger: Logger;
}

export class DhcpHandler {
  readonly #cfg: DhcpConfig;
  readonly #d: HandlerDeps;
  readonly #excluded: Set<number>;
  /** Enrolments of unknown machines, all clients together: a rack booting at once fits the burst. */
  readonly #enrolls = new RateLimiter(20, 1000);

  constructor(cfg: DhcpConfig, deps: HandlerDeps) {
    this.#cfg = cfg;
    this.#d = deps;
    // Never hand out the seed's own address or a router's.
    this.#excluded = new Set([cfg.address, ...cfg.subnets.map((s) => s.router).filter((r): r is string => !!r)].map(ipToInt));
  }

  /** The subnet a request belongs to: that of the relay (giaddr), else that of the seed's address. */
  subnetFor(req: DhcpMessage): Subnet | undefined {
    const anchor = req.giaddr !== '0.0.0.0' ? req.giaddr : this.#cfg.address;
    return this.#cfg.subnets.find((s) => subnetContains(s, anchor));
  }

  async handle(req: DhcpMessage, localPort: number, signal?: AbortSignal): Promise<Outcome> {
    if (req.op !== 1) return { kind: 'drop', reason: 'not a BOOTREQUEST' };
    if (req.htype !== 1 || req.hlen !== 6) return { kind: 'drop', reason: `hardware type ${req.htype}/${req.hlen} is not Ethernet` };
    const info = classify(req);
    const type = info.messageType;
    if (type === undefined) return { kind: 'drop', reason: 'no message type (plain BOOTP)', info };
    if (/^00(:00){5}$|^ff(:ff){5}$/.test(info.mac) || (parseInt(info.mac.slice(0, 2), 16) & 1) === 1) {
      return { kind: 'drop', reason: 'chaddr is not a unicast MAC', info };
    }
    let machine = await this.#d.machines.byMac(info.mac, signal);
    const adm = admit(info, machine, this.#cfg);
    if (!adm.answer) return { kind: 'drop', reason: adm.reason, info };
    if (adm.enroll && (type === MsgType.Discover || type === MsgType.Request) && !this.#enrolls.allow('all', Date.now())) {
      // A flood of made-up MACs must not fill the store with machines: answer, but enrol later.
      this.#d.logger.debug({ mac: info.mac }, 'dhcp: enrolment rate exceeded; not recorded this time');
    } else if (adm.enroll && (type === MsgType.Discover || type === MsgType.Request)) {
      try {
        machine = await this.#d.machines.enroll({ mac: info.mac, ...(info.uuid ? { uuid: info.uuid } : {}), ...(info.archCode !== undefined ? { archCode: info.archCode } : {}), ...(info.hostname ? { hostname: info.hostname } : {}) }, signal);
      } catch (e) {
        this.#d.logger.warn({ err: e, mac: info.mac }, 'dhcp: enrolment failed; answering anyway');
      }
    }
    if (machine && info.relay && (info.relay.circuitId || info.relay.remoteId)) {
      const loc = { relay: info.relay.giaddr, ...(info.relay.circuitId ? { circuitId: info.relay.circuitId } : {}), ...(info.relay.remoteId ? { remoteId: info.relay.remoteId } : {}) };
      // Not awaited: the reply does not wait for the location write.
      const id = machine.id;
      this.#d.machines.recordLocation(id, loc, signal).catch((e: unknown) => this.#d.logger.warn({ err: e, machine: id }, 'dhcp: location not recorded'));
    }
    const boot = planBoot(info, machine, this.#cfg).boot;
    return this.#cfg.mode === 'proxy' ? this.#proxy(req, info, boot, localPort) : this.#full(req, info, machine, boot, signal);
  }

  /** Proxy DHCP (PXE spec §2.2.3): boot information only, on 67 for DISCOVER, on 4011 for REQUEST. */
  #proxy(req: DhcpMessage, info: ClientInfo, boot: BootPlan | undefined, localPort: number): Outcome {
    if (!boot) return { kind: 'drop', reason: 'no boot file for this client', info };
    const subnet = this.subnetFor(req);
    const base = { yiaddr: '0.0.0.0', serverId: this.#cfg.address, boot, proxy: true, ...(subnet ? { subnet } : {}) };
    const t = info.messageType;
    if (t === MsgType.Discover && localPort !== this.#cfg.proxyPort) {
      return { reply: planReply(req, { ...base, type: MsgType.Offer }), kind: 'offer', info };
    }
    const forUs = localPort === this.#cfg.proxyPort || info.serverId === this.#cfg.address;
    if ((t === MsgType.Request || t === MsgType.Inform) && forUs) {
      return { reply: planReply(req, { ...base, type: MsgType.Ack }), kind: 'ack', info };
    }
    return { kind: 'drop', reason: `proxy: ${msgTypeName[t ?? 0] ?? t} not for us`, info };
  }

  #full(req: DhcpMessage, info: ClientInfo, machine: MachineView | undefined, boot: BootPlan | undefined, signal?: AbortSignal): Promise<Outcome> | Outcome {
    const subnet = this.subnetFor(req);
    if (!subnet) return { kind: 'drop', reason: `no --dhcp-range for the subnet of ${req.giaddr !== '0.0.0.0' ? `relay ${req.giaddr}` : this.#cfg.address}`, info };
    const reserved = machine?.ipv4 && subnetContains(subnet, machine.ipv4) ? machine.ipv4 : undefined;
    const others = this.#reservedForOthers(info.mac);
    const server = this.#cfg.address;
    switch (info.messageType) {
      case MsgType.Discover: {
        const p = this.#d.leases.offer(info.mac, subnet, this.#cfg.offerHold * 1000, {
          ...(info.requestedIp ? { requested: info.requestedIp } : {}), ...(reserved ? { reserved } : {}), excluded: this.#excluded, reservedForOthers: others,
        });
        if (!p.ip) {
          this.#warnPoolFull(subnet, info.mac, p.why);
          return { kind: 'drop', reason: p.why, info };
        }
        return { reply: planReply(req, { type: MsgType.Offer, yiaddr: p.ip, serverId: server, subnet, ...(boot ? { boot } : {}) }), kind: 'offer', info };
      }
      case MsgType.Request:
        return this.#request(req, info, subnet, machine, reserved, others, boot, signal);
      case MsgType.Decline: {
        if (info.serverId !== server || !info.requestedIp) return { kind: 'drop', reason: 'DECLINE not for us', info };
        return this.#d.leases.decline(info.mac, info.requestedIp, this.#cfg.declineQuarantine * 1000, signal)
          .then((ok) => ({ kind: 'decline' as const, reason: ok ? `quarantined ${info.requestedIp}` : 'DECLINE of an address the client does not hold', info }));
      }
      case MsgType.Release: {
        if (info.serverId && info.serverId !== server) return { kind: 'drop', reason: 'RELEASE for another server', info };
        return this.#d.leases.release(info.mac, req.ciaddr, signal)
          .then((ok) => ({ kind: 'release' as const, reason: ok ? `released ${req.ciaddr}` : 'RELEASE of an address the client does not hold', info }));
      }
      case MsgType.Inform:
        // RFC 2131 §4.3.5: configuration only, no lease, no yiaddr.
        return { reply: planReply(req, { type: MsgType.Ack, yiaddr: '0.0.0.0', serverId: server, subnet, inform: true, ...(boot ? { boot } : {}) }), kind: 'ack', info };
      default:
        return { kind: 'drop', reason: `unexpected message type ${info.messageType}`, info };
    }
  }

  async #request(req: DhcpMessage, info: ClientInfo, subnet: Subnet, machine: MachineView | undefined, reserved: string | undefined, others: (ip: number) => boolean, boot: BootPlan | undefined, signal?: AbortSignal): Promise<Outcome> {
    const server = this.#cfg.address;
    const nak = (message: string): Outcome => ({ reply: planReply(req, { type: MsgType.Nak, yiaddr: '0.0.0.0', serverId: server, message }), kind: 'nak', info });
    // SELECTING with another server's id: the client took another offer (RFC 2131 §4.3.2).
    if (info.serverId && info.serverId !== server) {
      if (info.requestedIp) this.#d.leases.table.unhold(info.requestedIp, info.mac);
      return { kind: 'drop', reason: `client chose server ${info.serverId}`, info };
    }
    const ip = info.requestedIp ?? (req.ciaddr !== '0.0.0.0' ? req.ciaddr : undefined);
    if (!ip) return { kind: 'drop', reason: 'REQUEST without requested address or ciaddr', info };
    if (!subnetContains(subnet, ip)) return nak(`${ip} is not on this network`);
    const n = ipToInt(ip);
    if (reserved && ip !== reserved) return nak(`this machine's address is ${reserved}`);
    if (!reserved && (n < subnet.start || n > subnet.end || others(n))) return nak(`${ip} is not in the dynamic range`);
    if (!reserved && !this.#d.leases.available(info.mac, ip)) return nak(`${ip} is in use`);
    const clientId = getOption(req, Opt.ClientId);
    const g = await this.#d.leases.grant(info.mac, ip, subnet, {
      server, ...(info.hostname ? { hostname: info.hostname.slice(0, 255) } : {}), ...(clientId ? { clientId: hex(clientId).slice(0, 510) } : {}),
      ...(machine ? { machine: machine.id } : {}), ...(reserved ? { force: true } : {}),
    }, signal);
    if (!g.ok) return nak(`${ip} is in use`);
    return { reply: planReply(req, { type: MsgType.Ack, yiaddr: ip, serverId: server, subnet, ...(boot ? { boot } : {}) }), kind: 'ack', info };
  }

  /** Last pool-full warning per subnet, and how many were not logged since: a storm logs once per 10 s. */
  readonly #poolFull = new Map<number, { at: number; suppressed: number }>();

  #warnPoolFull(subnet: Subnet, mac: string, why: string): void {
    const now = Date.now();
    const last = this.#poolFull.get(subnet.start);
    if (last && now - last.at < 10_000) { last.suppressed++; return; }
    this.#d.logger.warn({ mac, subnet: `${subnet.network}/${subnet.prefix}`, why, suppressed: last?.suppressed ?? 0 },
      'dhcp: no address to offer (pool full: live leases are never evicted)');
    this.#poolFull.set(subnet.start, { at: now, suppressed: 0 });
  }

  #reservedForOthers(mac: string): (ip: number) => boolean {
    const reservations = this.#d.machines.reservations();
    return (ip) => {
      const macs = reservations.get(ip);
      return macs !== undefined && !macs.includes(mac);
    };
  }
}
