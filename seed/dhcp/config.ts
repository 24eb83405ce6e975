// The DHCP part of the seed's typed config (DESIGN §5.7), one zod schema for the flags
// `--dhcp full|proxy|off`, `--interface`, `--address`, `--dhcp-range` (repeatable: one subnet each),
// `--dhcp-lease-time`, `--dhcp-router`, `--dhcp-dns`, `--dhcp-domain`, `--dhcp-known-only`,
// `--dhcp-uefi-loader`. Errors name the flag (the issue path is the flag name).
import { z } from 'zod';
import { intToIp, ipToInt, isIpv4 } from './options.ts';

export interface Subnet {
  /** Network address and prefix length, e.g. 10.213.0.0 / 24. */
  network: string;
  prefix: number;
  mask: string;
  /** Network address and mask as 32-bit numbers (hot path: one subnet test per request). */
  networkInt: number;
  maskInt: number;
  broadcast: string;
  /** Dynamic pool, inclusive, as 32-bit numbers. */
  start: number;
  end: number;
  router?: string;
  dns: string[];
  domain?: string;
  leaseTime: number;
}

const ipv4 = z.string().refine(isIpv4, { message: 'must be an IPv4 address (a.b.c.d)' });

/** Lists arrive as arrays from repeated flags and YAML, as text from LPMOS_* variables. */
const list = (sep: RegExp) => (v: unknown): unknown => (typeof v === 'string' ? v.split(sep).map((x) => x.trim()).filter(Boolean) : v);
const bool = (v: unknown): unknown => (typeof v === 'string' ? ['true', '1', 'yes'].includes(v.toLowerCase()) : v);

export const dhcpFlagsSchema = z.object({
  dhcp: z.enum(['full', 'proxy', 'off']).default('off'),
  interface: z.string().min(1).max(15).optional(),
  address: ipv4.optional(),
  /** Repeatable; in one variable or file string, ranges are separated by spaces or ";". */
  dhcpRange: z.preprocess(list(/[\s;]+/), z.array(z.string())).default([]),
  dhcpLeaseTime: z.coerce.number().int().min(60).max(31_536_000).default(3600),
  dhcpRouter: ipv4.optional(),
  dhcpDns: z.preprocess(list(/[\s,]+/), z.array(ipv4)).default([]),
  dhcpDomain: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'must be a domain name').optional(),
  dhcpKnownOnly: z.preprocess(bool, z.boolean()).default(false),
  dhcpUefiLoader: z.enum(['ipxe.efi', 'snponly.efi']).default('ipxe.efi'),
  /** Port of the seed's HTTP server, for iPXE scripts and UEFI HTTP boot URLs. */
  httpPort: z.coerce.number().int().min(0).max(65535).default(8080),
  /** The seed's HTTP server as machines reach it; default http://<address>:<http-port>. */
  httpPublicUrl: z.url({ protocol: /^https?$/ }).optional(),
});
/** The DHCP settings as `lpmos seed` settings (the seed owns --http-port and --http-public-url). */
export const dhcpSeedSettings = dhcpFlagsSchema.omit({ httpPort: true, httpPublicUrl: true }).shape;
export type DhcpFlags = z.input<typeof dhcpFlagsSchema>;

export interface DhcpConfig {
  mode: 'full' | 'proxy' | 'off';
  interface?: string;
  /** The seed's own address on the provisioning network: server id, next-server, HTTP host. */
  address: string;
  subnets: Subnet[];
  knownOnly: boolean;
  loaders: { bios: string; uefiX64: string; uefiIa32: string; uefiArm64: string };
  /** Base URL of the seed's HTTP server, without trailing slash. */
  httpBase: string;
  /** Seconds a declined address stays unused (RFC 2131 §4.3.3). */
  declineQuarantine: number;
  /** Seconds an offered address is held for the client that was offered it. */
  offerHold: number;
  /** Per-MAC rate limit: requests per second, and burst. */
  rateLimit: { perSecond: number; burst: number };
  /** UDP ports; tests and benchmarks keep the standard ones inside their namespaces. */
  serverPort: number;
  proxyPort: number;
}

/**
 * One `--dhcp-range`: `START-END[/PREFIX][,router=IP][,dns=IP+IP][,domain=NAME][,lease=SECONDS]`.
 * The prefix defaults to 24. Router/DNS/domain/lease default to the global flags.
 */
export function parseRange(text: string, defaults: { router?: string; dns: string[]; domain?: string; leaseTime: number }): Subnet {
  const [head, ...params] = text.split(',');
  const m = /^(\d+\.\d+\.\d+\.\d+)-(\d+\.\d+\.\d+\.\d+)(?:\/(\d{1,2}))?$/.exec(head?.trim() ?? '');
  if (!m || !isIpv4(m[1]!) || !isIpv4(m[2]!)) throw new Error(`"${text}" is not START-END[/PREFIX] with IPv4 addresses`);
  const prefix = m[3] === undefined ? 24 : Number(m[3]);
  if (prefix < 8 || prefix > 30) throw new Error(`prefix /${prefix} out of 8..30`);
  const start = ipToInt(m[1]!);
  const end = ipToInt(m[2]!);
  const maskInt = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (start & maskInt) >>> 0;
  const bcast = (net | (~maskInt >>> 0)) >>> 0;
  if (end < start) throw new Error(`range end ${m[2]} is before its start ${m[1]}`);
  if (((end & maskInt) >>> 0) !== net) throw new Error(`${m[1]} and ${m[2]} are not in one /${prefix} subnet`);
  if (start === net || end === bcast) throw new Error('the range must not include the network or broadcast address');
  const subnet: Subnet = {
    network: intToIp(net), prefix, mask: intToIp(maskInt), networkInt: net, maskInt, broadcast: intToIp(bcast), start, end,
    dns: defaults.dns, leaseTime: defaults.leaseTime,
  };
  if (defaults.router) subnet.router = defaults.router;
  if (defaults.domain) subnet.domain = defaults.domain;
  for (const p of params) {
    const [k, v = ''] = p.split('=', 2).map((s) => s.trim()) as [string, string?];
    if (k === 'router' && isIpv4(v)) subnet.router = v;
    else if (k === 'dns' && v.split('+').every(isIpv4)) subnet.dns = v.split('+');
    else if (k === 'domain' && /^[A-Za-z0-9.-]{1,253}$/.test(v)) subnet.domain = v;
    else if (k === 'lease' && /^\d+$/.test(v) && Number(v) >= 60) subnet.leaseTime = Number(v);
    else throw new Error(`bad range parameter "${p}" (router=IP, dns=IP+IP, domain=NAME, lease=SECONDS)`);
  }
  return subnet;
}

export function subnetContains(s: Subnet, ip: string | number): boolean {
  return ((((typeof ip === 'number' ? ip : ipToInt(ip)) & s.maskInt) >>> 0) === s.networkInt);
}

/** Validates the flags into a DhcpConfig; throws z.ZodError whose issue paths name the flags. */
export const dhcpConfigSchema = dhcpFlagsSchema.transform((f, ctx): DhcpConfig => {
  const issue = (path: string, message: string): never => {
    ctx.addIssue({ code: 'custom', path: [path], message });
    return z.NEVER as never;
  };
  const subnets: Subnet[] = [];
  f.dhcpRange.forEach((r) => {
    try {
      const defaults: { router?: string; dns: string[]; domain?: string; leaseTime: number } = { dns: f.dhcpDns, leaseTime: f.dhcpLeaseTime };
      if (f.dhcpRouter) defaults.router = f.dhcpRouter;
      if (f.dhcpDomain) defaults.domain = f.dhcpDomain;
      subnets.push(parseRange(r, defaults));
    } catch (e) {
      issue('dhcpRange', (e as Error).message);
    }
  });
  const cfg: DhcpConfig = {
    mode: f.dhcp,
    address: f.address ?? '0.0.0.0',
    subnets,
    knownOnly: f.dhcpKnownOnly,
    loaders: { bios: 'undionly.kpxe', uefiX64: f.dhcpUefiLoader, uefiIa32: 'ipxe-i386.efi', uefiArm64: 'ipxe-arm64.efi' },
    httpBase: f.httpPublicUrl ? f.httpPublicUrl.replace(/\/+$/, '') : `http://${f.address ?? '0.0.0.0'}:${f.httpPort}`,
    declineQuarantine: 600,
    offerHold: 30,
    rateLimit: { perSecond: 10, burst: 20 },
    serverPort: 67,
    proxyPort: 4011,
  };
  if (f.interface) cfg.interface = f.interface;
  if (f.dhcp === 'off') return cfg;
  // Safety (issue 3): DHCP only on an interface the operator names.
  // Without --interface DHCP stays off (startDhcp says so): never default into answering DHCP.
  if (!f.address) issue('address', `--dhcp ${f.dhcp} needs --address (the seed's address on the provisioning network)`);
  if (f.dhcp === 'full') {
    if (subnets.length === 0) issue('dhcpRange', '--dhcp full needs at least one --dhcp-range START-END');
  }
  return cfg;
});
