// Boot-storm offload (issue 7), the decision alone: who sends a booting machine the agent kernel or
// ramdisk — an agent that holds it (a redirect), the seed itself, or nobody yet (503: iPXE's chain
// script asks again). Pure: holders, leases and the clock come in as data.
//
// Rules, in order:
//  - offload off, a client outside the provisioning network, a Range or HEAD request: the seed serves.
//  - candidates are holders with the complete blob and an HTTP piece server, never the requester itself;
//    among them those under their cap (redirects still running to them), same subnet as the requester
//    first, then the least loaded, then the freshest announcement.
//  - no candidate under its cap: the seed serves while it has fewer than `seedConcurrent` copies of
//    this file out (being sent, or sent to machines that have not come back as holders yet); past
//    that a client that retries on its own (iPXE) is told to come back
//    (`busy`), any other client is served. When holders exist but are all busy, iPXE waits for them
//    (they free up in seconds) instead of costing the seed a copy.

export interface OffloadPolicy {
  /** Redirects running at once to one holder (its piece server caps uploads too). */
  perHolder: number;
  /** Copies of one file the seed has out (being sent, or to machines not yet holders) before iPXE clients are told to retry. */
  seedConcurrent: number;
  /** Retry-After seconds of a busy answer. */
  retryAfterS: number;
}

export const DEFAULT_POLICY: OffloadPolicy = { perHolder: 2, seedConcurrent: 2, retryAfterS: 5 };

export interface OffloadCandidate {
  peerId: string;
  /** IPv4 address of the holder's piece server, and its blob URL. */
  ip: string;
  url: string;
  complete: boolean;
  /** When its announcement arrived (ms). */
  at: number;
}

export interface OffloadRequest {
  /** Requester's IPv4 address. */
  client: string;
  method: string;
  range: boolean;
  /** The client retries a failed download on its own (iPXE's chain script does). */
  retries: boolean;
}

export interface OffloadState {
  on: boolean;
  /** Provisioning networks (CIDR); redirects only for clients inside one. */
  networks: readonly Cidr[];
  holders: readonly OffloadCandidate[];
  /** Redirects running to a holder (by peer id). */
  activeTo: (peerId: string) => number;
  /** Copies of this file the seed has out (being sent, or sent to booting machines not yet back as holders). */
  seedActive: number;
  policy: OffloadPolicy;
}

export type ServeReason = 'off' | 'not_provisioning' | 'range' | 'head' | 'no_holder' | 'holders_busy';
export type RedirectReason = 'same_subnet' | 'other_subnet';

export type OffloadDecision =
  | { kind: 'redirect'; to: OffloadCandidate; reason: RedirectReason }
  | { kind: 'serve'; reason: ServeReason }
  | { kind: 'busy'; reason: 'holders_busy' | 'seed_busy'; retryAfterS: number };

export interface Cidr {
  net: number;
  bits: number;
}

/** `10.0.0.0/24` → numbers; undefined when it is not an IPv4 CIDR (a bare address is /32). */
export function parseCidr(text: string): Cidr | undefined {
  const [ip, bitsText] = text.split('/');
  const n = ipv4(ip ?? '');
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  if (n === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return undefined;
  return { net: (n & mask(bits)) >>> 0, bits };
}

/** An IPv4 address as an unsigned number (`::ffff:` mapped addresses too); undefined otherwise. */
export function ipv4(text: string): number | undefined {
  const m = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/i.exec(text);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

function mask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

export function inCidr(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.bits)) >>> 0) === c.net;
}

/** The narrowest provisioning network holding the address. */
export function networkOf(networks: readonly Cidr[], ip: number): Cidr | undefined {
  let best: Cidr | undefined;
  for (const c of networks) if (inCidr(c, ip) && (!best || c.bits > best.bits)) best = c;
  return best;
}

export function decideOffload(req: OffloadRequest, s: OffloadState): OffloadDecision {
  if (!s.on) return { kind: 'serve', reason: 'off' };
  if (req.method === 'HEAD') return { kind: 'serve', reason: 'head' };
  if (req.range) return { kind: 'serve', reason: 'range' };
  const client = ipv4(req.client);
  const net = client === undefined ? undefined : networkOf(s.networks, client);
  if (client === undefined || !net) return { kind: 'serve', reason: 'not_provisioning' };
  const holders = s.holders.filter((h) => h.complete && ipv4(h.ip) !== undefined && ipv4(h.ip) !== client);
  const free = holders.filter((h) => s.activeTo(h.peerId) < s.policy.perHolder);
  if (free.length > 0) {
    const local = (h: OffloadCandidate): number => (inCidr(net, ipv4(h.ip)!) ? 0 : 1);
    const best = [...free].sort((a, b) => local(a) - local(b) || s.activeTo(a.peerId) - s.activeTo(b.peerId) || b.at - a.at)[0]!;
    return { kind: 'redirect', to: best, reason: local(best) === 0 ? 'same_subnet' : 'other_subnet' };
  }
  if (holders.length > 0) {
    // Every holder is busy: a machine that retries waits for one instead of costing a full copy.
    return req.retries ? { kind: 'busy', reason: 'holders_busy', retryAfterS: s.policy.retryAfterS } : { kind: 'serve', reason: 'holders_busy' };
  }
  if (s.seedActive >= s.policy.seedConcurrent && req.retries) return { kind: 'busy', reason: 'seed_busy', retryAfterS: s.policy.retryAfterS };
  return { kind: 'serve', reason: 'no_holder' };
}

/**
 * Redirects in progress per holder. The seed does not see the download end on the holder, so a
 * redirect counts until its lease runs out (about the time the file takes at a slow client's rate),
 * or earlier when the same client comes back (its next boot file, or its agent asking for the boot
 * refs: the download it was sent for is over). Pure (the clock is passed in).
 */
export class RedirectLedger {
  #leases: { holder: string; client: string; until: number }[] = [];

  add(holder: string, client: string, until: number): void {
    this.#leases.push({ holder, client, until });
  }

  /** The client is back: the downloads it was redirected for are done. */
  releaseClient(client: string): void {
    this.#leases = this.#leases.filter((l) => l.client !== client);
  }

  /** One client's lease on one holder ends. */
  release(holder: string, client: string): void {
    this.#leases = this.#leases.filter((l) => l.holder !== holder || l.client !== client);
  }

  /** A client's lease on a holder runs at least until `until` (when it has one). */
  extend(holder: string, client: string, until: number): void {
    for (const l of this.#leases) if (l.holder === holder && l.client === client && l.until < until) l.until = until;
  }

  leasesOf(client: string): { holder: string; until: number }[] {
    return this.#leases.filter((l) => l.client === client).map((l) => ({ holder: l.holder, until: l.until }));
  }

  active(holder: string, now: number): number {
    this.#leases = this.#leases.filter((l) => l.until > now);
    return this.#leases.filter((l) => l.holder === holder).length;
  }
}
