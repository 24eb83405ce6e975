// Boot-storm offload (issue 7) at the seed: for a GET of the agent kernel or ramdisk, ask the
// decision (offload-decision.ts) with the holders the seed's blob exchange heard of, keep the
// redirect leases and the seed's own full copies in flight, and count what happened for /metrics:
// full copies the seed served, redirects, busy answers, each by reason. The counters run with
// offload off too (the benchmark compares both).
import type { BlobManifest, HaveEntry } from '../swarm/blobs/api.ts';
import { countBits } from '../swarm/blobs/bitfield.ts';
import { DEFAULT_POLICY, RedirectLedger, decideOffload, parseCidr, type Cidr, type OffloadCandidate, type OffloadDecision, type OffloadPolicy, type OffloadRequest } from './offload-decision.ts';

/** What the offload needs of the seed's blob exchange: the holders it heard of. */
export interface HolderSource {
  holders(sha256: string): HaveEntry[];
}

/** Whether a holder is still there (the seed's libp2p connection to it): one that left is not chosen even before its announcement expires. */
export type Liveness = (peerId: string) => boolean;

export interface BootOffloadOptions {
  on: boolean;
  /** Provisioning networks as CIDRs (`10.0.0.0/24`); a client elsewhere is always served by the seed. */
  networks: readonly string[];
  holders?: HolderSource;
  alive?: Liveness;
  /** Piece manifests of blobs the seed holds whole (its exchange's store): given to agents with the boot refs. */
  manifests?: (sha256: string) => BlobManifest | undefined;
  policy?: Partial<OffloadPolicy>;
  /**
   * How long a redirect counts against its holder when the client does not come back earlier, ms:
   * the file's size at `slowRateBps` plus 5 s, at most `maxLeaseMs` (default 512 KiB/s, 300 s: iPXE
   * under emulation on a loaded host took ~4 min for the 105 MB ramdisk).
   */
  slowRateBps?: number;
  maxLeaseMs?: number;
  /**
   * How long a copy the seed sent to a machine that retries (iPXE) counts against `seedConcurrent`
   * when the machine's agent does not come back earlier, ms (default 900 000). Long on purpose: the
   * machine normally comes back within seconds of booting; the cap only frees the seat of one that
   * never boots. A short cap lets a slow boot (emulation, a loaded host: 240 s was too short with 8
   * TCG guests) cost the seed another copy.
   */
  seedLeaseMs?: number;
  /** How long the seat of a seed copy stays taken once its machine's agent came back (default DEFAULT_AGENT_GRACE_MS). */
  agentGraceMs?: number;
  now?: () => number;
}

/**
 * The seat of a seed copy after its machine's agent came back, until the agent holds the file whole,
 * renewed while it announces pieces of it: 300 s. Measured (bench:bootstorm, 8 TCG guests on 2 host
 * cores, load 10): an agent took ≈ 190 s from asking for the boot refs to holding the kernel and the
 * ramdisk it kept from stage 0 (most of it hashing 105 MB and fetching the kernel, during which it
 * announces nothing); with 120 s its seat was freed first and the seed sent another whole copy.
 * An agent that will not keep the file says so (POST /api/v1/boot-files/declined) and frees it at once.
 */
export const DEFAULT_AGENT_GRACE_MS = 300_000;

export interface BootFile {
  name: string;
  sha256: string;
  size: number;
}

interface FileCounters {
  fullCopies: number;
  /** Body bytes the seed sent for this file (whole or ranges), to express partial copies. */
  bytes: number;
  seedActive: number;
}

export class BootOffload {
  readonly policy: OffloadPolicy;
  readonly on: boolean;
  readonly networks: readonly Cidr[];
  readonly #o: BootOffloadOptions;
  readonly #now: () => number;
  readonly #ledger = new RedirectLedger();
  readonly #files = new Map<string, FileCounters & { name: string; size: number }>();
  readonly #redirects = new Map<string, number>();
  readonly #served = new Map<string, number>();
  readonly #busy = new Map<string, number>();
  #declined = 0;

  constructor(o: BootOffloadOptions) {
    this.#o = o;
    this.on = o.on;
    this.policy = { ...DEFAULT_POLICY, ...o.policy };
    this.#now = o.now ?? Date.now;
    this.networks = o.networks.map((n) => parseCidr(n)).filter((c): c is Cidr => c !== undefined);
  }

  #file(f: BootFile): FileCounters & { name: string; size: number } {
    let c = this.#files.get(f.sha256);
    if (!c) this.#files.set(f.sha256, (c = { name: f.name, size: f.size, fullCopies: 0, bytes: 0, seedActive: 0 }));
    return c;
  }

  /** Holders of the complete blob with an HTTP piece server, as the decision sees them. */
  candidates(f: BootFile): OffloadCandidate[] {
    const out: OffloadCandidate[] = [];
    for (const h of this.#o.holders?.holders(f.sha256) ?? []) {
      if (!h.http || (this.#o.alive && !this.#o.alive(h.peerId))) continue;
      let ip: string;
      try {
        ip = new URL(h.http).hostname;
      } catch {
        continue;
      }
      out.push({ peerId: h.peerId, ip, url: `${h.http.replace(/\/+$/, '')}/${f.sha256}`, complete: countBits(h.have, h.pieces) === h.pieces, at: h.at });
    }
    return out;
  }

  /**
   * The client came back (another boot file, its agent asking for the boot refs): the downloads it
   * was redirected for are over. A copy the seed sent it still counts for `agentGraceMs` (default
   * 300 s, renewed while its agent announces pieces of it) — until its agent holds the file and can
   * take the next machines — unless it is a complete holder already.
   */
  clientBack(client: string): void {
    const c = normalize(client);
    const seedLeases = this.#ledger.leasesOf(c).filter((l) => l.holder.startsWith('seed '));
    this.#ledger.releaseClient(c);
    const until = this.#now() + (this.#o.agentGraceMs ?? DEFAULT_AGENT_GRACE_MS);
    for (const l of seedLeases) this.#ledger.add(l.holder, c, Math.min(l.until, until));
  }

  /**
   * The client's agent will not keep these files (they do not fit in its store, or its fetch failed):
   * the seats of the seed's copies to it are free now instead of after the grace. Returns how many.
   */
  declined(client: string, sha256s: readonly string[]): number {
    const c = normalize(client);
    let n = 0;
    for (const sha of sha256s) {
      const key = `seed ${sha.toLowerCase()}`;
      if (this.#ledger.leasesOf(c).some((l) => l.holder === key)) {
        this.#ledger.release(key, c);
        n++;
      }
    }
    if (n > 0) this.#declined += n;
    return n;
  }

  /** The blob's piece manifest when the seed holds it whole. */
  manifest(sha256: string): BlobManifest | undefined {
    return this.#o.manifests?.(sha256);
  }

  decide(f: BootFile, req: OffloadRequest): OffloadDecision {
    const now = this.#now();
    const client = normalize(req.client);
    const c = this.#file(f);
    // The seed's own copies to machines that retry count like a holder's: until the machine comes back
    // (its agent then keeps the file and becomes a holder) or a boot's time runs out.
    const seedKey = `seed ${f.sha256}`;
    // A machine the seed sent a copy to that now holds the file whole: its seat is free.
    const holders = this.on ? this.candidates(f) : [];
    // One still downloading it (announcing pieces) keeps its seat for another grace period.
    for (const h of holders) {
      if (h.complete) this.#ledger.release(seedKey, h.ip);
      else this.#ledger.extend(seedKey, h.ip, now + (this.#o.agentGraceMs ?? DEFAULT_AGENT_GRACE_MS));
    }
    const d = decideOffload(
      { ...req, client },
      { on: this.on, networks: this.networks, holders, activeTo: (p) => this.#ledger.active(p, now), seedActive: Math.max(c.seedActive, this.#ledger.active(seedKey, now)), policy: this.policy },
    );
    if (d.kind === 'redirect') {
      const lease = Math.min(this.#o.maxLeaseMs ?? 300_000, 5000 + (f.size / (this.#o.slowRateBps ?? 512 * 1024)) * 1000);
      this.#ledger.add(d.to.peerId, client, now + lease);
      bump(this.#redirects, `${f.name}\u0000${d.reason}`);
    } else if (d.kind === 'busy') {
      bump(this.#busy, `${f.name}\u0000${d.reason}`);
    } else {
      if (d.reason === 'no_holder' && req.retries) this.#ledger.add(seedKey, client, now + (this.#o.seedLeaseMs ?? 900_000));
      bump(this.#served, `${f.name}\u0000${d.reason}`);
    }
    return d;
  }

  /**
   * The seed starts sending this file itself (whole: `range` false). Returns what to call when the
   * response closed, with the bytes sent and whether the whole body went out.
   */
  serving(f: BootFile, range: boolean): (bytes: number, finished: boolean) => void {
    const c = this.#file(f);
    if (!range) c.seedActive++;
    let done = false;
    return (bytes, finished) => {
      if (done) return;
      done = true;
      if (!range) c.seedActive--;
      c.bytes += bytes;
      if (!range && finished && bytes === f.size) c.fullCopies++;
    };
  }

  /** Full copies the seed sent of a file, and its bytes as copies (whole or ranges). */
  copies(sha256: string): { full: number; bytes: number; equivalent: number } {
    const c = this.#files.get(sha256);
    if (!c) return { full: 0, bytes: 0, equivalent: 0 };
    return { full: c.fullCopies, bytes: c.bytes, equivalent: c.size ? c.bytes / c.size : 0 };
  }

  redirects(name?: string): number {
    let n = 0;
    for (const [k, v] of this.#redirects) if (name === undefined || k.startsWith(`${name}\u0000`)) n += v;
    return n;
  }

  /** Prometheus text exposition (0.0.4). */
  render(): string {
    const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
    const files = [...this.#files.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    const lines = [
      '# HELP lpmos_boot_offload_enabled 1 when the seed redirects boot files to agents that hold them (--boot-offload).',
      '# TYPE lpmos_boot_offload_enabled gauge',
      `lpmos_boot_offload_enabled ${this.on ? 1 : 0}`,
      '# HELP lpmos_boot_seed_full_copies_total Whole copies of a boot file (agent kernel, ramdisk) the seed sent itself.',
      '# TYPE lpmos_boot_seed_full_copies_total counter',
      ...files.map((f) => `lpmos_boot_seed_full_copies_total{file="${label(f.name)}"} ${f.fullCopies}`),
      '# HELP lpmos_boot_seed_bytes_total Body bytes of a boot file the seed sent (whole files and ranges).',
      '# TYPE lpmos_boot_seed_bytes_total counter',
      ...files.map((f) => `lpmos_boot_seed_bytes_total{file="${label(f.name)}"} ${f.bytes}`),
    ];
    const byReason = (name: string, help: string, m: Map<string, number>): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [k, v] of [...m].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const [file, reason] = k.split('\u0000');
        lines.push(`${name}{file="${label(file!)}",reason="${reason}"} ${v}`);
      }
    };
    lines.push(
      '# HELP lpmos_boot_declined_seats_total Seats of seed copies freed because the machine\'s agent said it will not keep the file.',
      '# TYPE lpmos_boot_declined_seats_total counter',
      `lpmos_boot_declined_seats_total ${this.#declined}`,
    );
    byReason('lpmos_boot_redirects_total', 'Requests for a boot file redirected to an agent holding it, by reason (same_subnet, other_subnet).', this.#redirects);
    byReason('lpmos_boot_seed_served_total', 'Requests for a boot file the seed answered itself, by reason (off, not_provisioning, range, head, no_holder, holders_busy).', this.#served);
    byReason('lpmos_boot_busy_total', 'Requests for a boot file answered 503 + Retry-After (iPXE retries), by reason (holders_busy, seed_busy).', this.#busy);
    return `${lines.join('\n')}\n`;
  }
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function normalize(ip: string): string {
  return ip.replace(/^::ffff:(?=\d+\.)/i, '');
}

/**
 * The provisioning networks of a seed: its --address with the prefix of a DHCP range that holds
 * it (default /24), and every --dhcp-range (relayed subnets), as `START/PREFIX`.
 */
export function provisioningNetworks(address: string | undefined, dhcpRanges: readonly string[]): string[] {
  const out: string[] = [];
  for (const r of dhcpRanges) {
    const m = /^(\d+\.\d+\.\d+\.\d+)-\d+\.\d+\.\d+\.\d+(?:\/(\d+))?/.exec(r.trim());
    if (m) out.push(`${m[1]}/${m[2] ?? '24'}`);
  }
  if (address) out.push(`${address}/24`);
  return out.filter((c) => parseCidr(c) !== undefined);
}
