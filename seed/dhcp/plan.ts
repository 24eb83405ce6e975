// Pure reply planning: which boot file a client gets (planBoot), what the reply message
// looks like (planReply) and where it goes (replyDestination, RFC 2131 §4.1).
import { BROADCAST_FLAG, type DhcpMessage, type DhcpOption, getOption } from './codec.ts';
import type { ClientInfo } from './classify.ts';
import type { DhcpConfig, Subnet } from './config.ts';
import { MsgType, Opt, ipBytes, ipListBytes, textBytes, u32Bytes } from './options.ts';

export interface MachineView {
  id: string;
  /** Desired action from the machine's spec, if any. */
  action?: string;
  /** Fixed address (reservation). */
  ipv4?: string;
}

export interface BootPlan {
  /** Boot file name (TFTP path) or URL (UEFI HTTP boot, iPXE script). */
  file: string;
  /** Next server (siaddr / option 66). */
  nextServer: string;
  /** Vendor class to answer with (60): PXE and HTTP boot clients need it echoed. */
  vendorClass?: 'PXEClient' | 'HTTPClient';
}

export type BootDecision = { boot?: BootPlan; reason: string };

/**
 * Boot file per client (issue 3): iPXE → its boot script over HTTP (breaks the chainload loop);
 * UEFI HTTP boot → iPXE EFI binary by URL; firmware PXE → iPXE binary for its architecture over TFTP;
 * a machine set to `localboot` gets no boot file unless it is already iPXE (which then gets a
 * script that boots the local disk). Non-PXE clients get no boot file.
 */
export function planBoot(info: ClientInfo, machine: MachineView | undefined, cfg: Pick<DhcpConfig, 'address' | 'httpBase' | 'loaders'>): BootDecision {
  const next = cfg.address;
  if (info.ipxe) {
    // iPXE takes an offer with vendor class "PXEClient" as a ProxyDHCP offer: needed in proxy mode.
    const boot: BootPlan = { file: `${cfg.httpBase}/boot.ipxe`, nextServer: next };
    if (info.pxe) boot.vendorClass = 'PXEClient';
    return { boot, reason: 'iPXE: boot script over HTTP' };
  }
  if (machine?.action === 'localboot') return { reason: 'machine is set to localboot' };
  if (!info.pxe && !info.httpBoot) return { reason: 'not a PXE or HTTP boot client' };
  const loader = ((): string | undefined => {
    switch (info.arch) {
      case 'bios': return cfg.loaders.bios;
      case 'uefi-x64': return cfg.loaders.uefiX64;
      case 'uefi-ia32': return cfg.loaders.uefiIa32;
      case 'uefi-arm64': return cfg.loaders.uefiArm64;
      default: return info.archCode === undefined ? cfg.loaders.bios : undefined; // PXE without option 93: legacy BIOS ROM
    }
  })();
  if (!loader) return { reason: `no boot loader for architecture ${info.archCode ?? 'unknown'}` };
  if (info.httpBoot) {
    return { boot: { file: `${cfg.httpBase}/${loader}`, nextServer: next, vendorClass: 'HTTPClient' }, reason: `UEFI HTTP boot (${info.arch})` };
  }
  return { boot: { file: loader, nextServer: next, vendorClass: 'PXEClient' }, reason: `PXE ${info.arch}` };
}

export interface ReplyInput {
  type: typeof MsgType.Offer | typeof MsgType.Ack | typeof MsgType.Nak;
  /** Address given (full mode); 0.0.0.0 for proxy replies and NAK. */
  yiaddr: string;
  serverId: string;
  subnet?: Subnet;
  boot?: BootPlan;
  /** Set for INFORM answers (RFC 2131 §4.3.5: no lease time, yiaddr 0). */
  inform?: boolean;
  /** Proxy DHCP (PXE spec): no address, only boot information. */
  proxy?: boolean;
  message?: string;
}

/** PXE vendor options (43): discovery control = 8, "use the boot file name, skip boot server discovery". */
const PXE_VENDOR_OPTIONS = Uint8Array.of(6, 1, 8, 255);

/** Builds the reply message for a request. Pure: no clock, no I/O. */
export function planReply(req: DhcpMessage, input: ReplyInput): DhcpMessage {
  const opts: DhcpOption[] = [];
  const add = (code: number, data: Uint8Array): void => { opts.push({ code, data }); };
  add(Opt.MessageType, Uint8Array.of(input.type));
  add(Opt.ServerId, ipBytes(input.serverId));
  const s = input.subnet;
  if (input.type !== MsgType.Nak) {
    if (s && !input.proxy) {
      if (!input.inform) {
        add(Opt.LeaseTime, u32Bytes(s.leaseTime));
        add(Opt.RenewalTime, u32Bytes(Math.floor(s.leaseTime / 2))); // T1 = 0.5 (RFC 2131 §4.4.5)
        add(Opt.RebindingTime, u32Bytes(Math.floor(s.leaseTime * 0.875))); // T2 = 0.875
      }
      add(Opt.SubnetMask, ipBytes(s.mask));
      add(Opt.BroadcastAddress, ipBytes(s.broadcast));
      if (s.router) add(Opt.Router, ipBytes(s.router));
      if (s.dns.length > 0) add(Opt.DnsServers, ipListBytes(s.dns));
      if (s.domain) add(Opt.DomainName, textBytes(s.domain));
    }
    const b = input.boot;
    if (b) {
      if (b.vendorClass) add(Opt.VendorClass, textBytes(b.vendorClass));
      if (b.vendorClass === 'PXEClient') add(Opt.VendorSpecific, PXE_VENDOR_OPTIONS);
      const wanted = getOption(req, Opt.ParameterList);
      // Options 66/67 only when asked for (RFC 2131 §4.3.1); siaddr/file always carry the same.
      if (wanted?.includes(Opt.TftpServerName)) add(Opt.TftpServerName, textBytes(b.nextServer));
      if (wanted?.includes(Opt.BootfileName) || b.file.length > 127) add(Opt.BootfileName, textBytes(b.file));
    }
    // UUID (97) echoed to PXE clients, as the PXE spec asks of (proxy) servers.
    const uuid = getOption(req, Opt.ClientUuid);
    if (uuid && b?.vendorClass) add(Opt.ClientUuid, uuid);
  } else if (input.message) {
    add(Opt.Message, textBytes(input.message));
  }
  // Relay agent information is echoed unchanged, last (RFC 3046 §2.2).
  const relay = getOption(req, Opt.RelayAgentInfo);
  if (relay && req.giaddr !== '0.0.0.0') add(Opt.RelayAgentInfo, relay);

  const boot = input.type === MsgType.Nak ? undefined : input.boot;
  return {
    op: 2,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    // NAK through a relay: broadcast bit set so the relay broadcasts it (RFC 2131 §4.3.2).
    flags: input.type === MsgType.Nak && req.giaddr !== '0.0.0.0' ? req.flags | BROADCAST_FLAG : req.flags,
    ciaddr: input.type === MsgType.Nak ? '0.0.0.0' : req.ciaddr,
    yiaddr: input.type === MsgType.Nak || input.inform ? '0.0.0.0' : input.yiaddr,
    siaddr: boot ? boot.nextServer : '0.0.0.0',
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    sname: '',
    file: boot && boot.file.length <= 127 ? boot.file : '',
    options: opts,
  };
}

export interface Destination {
  address: string;
  port: number;
}

/**
 * Where a reply goes (RFC 2131 §4.1): through the relay (giaddr:67); to ciaddr:68 when the client
 * has an address (not for NAK); else broadcast. Unicast to an unconfigured client would need an
 * ARP entry we cannot add from user space, and the RFC allows broadcast instead.
 * `src` is where the request came from: requests to the proxy port 4011 are answered there.
 */
export function replyDestination(req: DhcpMessage, reply: DhcpMessage, src: Destination, localPort: number, serverPort = 67): Destination {
  if (req.giaddr !== '0.0.0.0') return { address: req.giaddr, port: serverPort };
  const isNak = getOption(reply, Opt.MessageType)?.[0] === MsgType.Nak;
  if (localPort !== serverPort && src.address !== '0.0.0.0') return { address: src.address, port: src.port };
  if (!isNak && req.ciaddr !== '0.0.0.0') return { address: req.ciaddr, port: 68 };
  return { address: '255.255.255.255', port: 68 };
}

export interface Admission {
  answer: boolean;
  /** Record this client as a discovered machine (enroll-unknown policy). */
  enroll: boolean;
  reason: string;
}

/**
 * Policy (issue 3): `knownOnly` answers only machines in the store (dnsmasq's `dhcp-ignore=tag:!known`);
 * otherwise any client is answered and an unknown PXE/HTTP/iPXE client is enrolled as discovered.
 * Proxy mode answers boot clients only: addresses come from the other DHCP server.
 */
export function admit(info: ClientInfo, machine: MachineView | undefined, cfg: Pick<DhcpConfig, 'mode' | 'knownOnly'>): Admission {
  const bootClient = info.pxe || info.httpBoot || info.ipxe;
  if (cfg.mode === 'off') return { answer: false, enroll: false, reason: 'DHCP is off' };
  if (cfg.mode === 'proxy' && !bootClient) return { answer: false, enroll: false, reason: 'proxy mode answers PXE clients only' };
  if (!machine && cfg.knownOnly) return { answer: false, enroll: false, reason: 'unknown machine and --dhcp-known-only' };
  return { answer: true, enroll: !machine && bootClient, reason: machine ? `known machine ${machine.id}` : 'unknown client' };
}
