// Lease repository on the Store: the LeaseTable (pool.ts) kept in step with `leases/<mac>` and
// `lease-addresses/<ip>`. Every grant, release and decline is one transaction comparing the mod
// revisions it last saw of both keys, so two seeds or two handlers can never give one address to
// two MACs: the loser re-reads both keys and decides again (or gets "taken").
import type { Logger } from '../../core/log.ts';
import type { Keys } from '../../core/keys.ts';
import type { Compare, Operation, Store, WatchEvent } from '../../core/store/store.ts';
import { addressClaimSchema, leaseSchema, type AddressClaim, type Lease } from '../../core/model/lease.ts';
import { LeaseTable, type AddressPick, type PickOptions } from './pool.ts';
import type { Subnet } from './config.ts';
import { ipToInt, isIpv4 } from './options.ts';
import { GroupCommit } from './group-commit.ts';

export interface GrantDetails {
  hostname?: string;
  clientId?: string;
  machine?: string;
  server: string;
  /** Take the address even from another MAC's live lease (a reservation always wins). */
  force?: boolean;
}

export type GrantResult = { ok: true; lease: Lease } | { ok: false; reason: 'taken' | 'conflict' };

const iso = (ms: number): string => new Date(ms).toISOString();

export class LeaseRepository {
  readonly table = new LeaseTable();
  readonly #store: Store;
  readonly #keys: Keys;
  readonly #log: Logger;
  readonly #now: () => number;
  /** Lease writes of concurrent requests share transactions (group-commit.ts). */
  readonly commits: GroupCommit;

  constructor(store: Store, keys: Keys, log: Logger, now: () => number = Date.now) {
    this.#store = store;
    this.commits = new GroupCommit(store);
    this.#keys = keys;
    this.#log = log;
    this.#now = now;
  }

  /** Reads every lease and address claim; records that fail their schema are logged and skipped. */
  async load(signal?: AbortSignal): Promise<number> {
    const opts = signal ? { signal } : {};
    const [leases, claims] = await Promise.all([this.#store.list(this.#keys.leases(), opts), this.#store.list(this.#keys.leaseAddresses(), opts)]);
    for (const kv of leases.kvs) {
      const v = this.#parse(leaseSchema, kv.key, kv.value);
      if (v) this.table.setLease(v.mac, { value: v, rev: kv.modRevision });
    }
    for (const kv of claims.kvs) {
      const v = this.#parse(addressClaimSchema, kv.key, kv.value);
      if (v) this.table.setClaim(v.ip, { value: v, rev: kv.modRevision });
    }
    this.revision = Math.min(leases.revision, claims.revision);
    return leases.kvs.length;
  }

  /** Store revision the last load() is consistent with (follow from revision + 1). */
  revision = 0;

  #parse<T>(schema: { safeParse(x: unknown): { success: true; data: T } | { success: false } }, key: string, value: string): T | undefined {
    try {
      const r = schema.safeParse(JSON.parse(value));
      if (r.success) return r.data;
    } catch { /* fall through */ }
    this.#log.warn({ key }, 'dhcp: skipping a stored lease record that does not match its schema');
    return undefined;
  }

  /**
   * Follows the store from `fromRevision` (other seeds' grants, releases, declines) until the signal
   * aborts, so offers are made from a current table. Correctness does not depend on it: every
   * write is a compare-and-swap. Events older than what the table holds are ignored.
   */
  follow(fromRevision: number, signal: AbortSignal): void {
    const run = async (prefix: string, apply: (ev: WatchEvent) => void): Promise<void> => {
      try {
        for await (const ev of this.#store.watch(prefix, { signal, fromRevision })) apply(ev);
      } catch (e) {
        if (!signal.aborted) this.#log.warn({ err: e, prefix }, 'dhcp: lease watch ended; the table is refreshed on conflicts only');
      }
    };
    void run(this.#keys.leases(), (ev) => {
      const mac = ev.key.slice(this.#keys.leases().length);
      const cur = this.table.leases.get(mac);
      if (cur && cur.rev >= ev.modRevision) return;
      const v = ev.type === 'put' && ev.value !== undefined ? this.#parse(leaseSchema, ev.key, ev.value) : undefined;
      this.table.setLease(mac, v ? { value: v, rev: ev.modRevision } : undefined);
    });
    void run(this.#keys.leaseAddresses(), (ev) => {
      const ip = ev.key.slice(this.#keys.leaseAddresses().length);
      if (!isIpv4(ip)) return;
      const cur = this.table.claims.get(ipToInt(ip));
      if (cur && cur.rev >= ev.modRevision) return;
      const v = ev.type === 'put' && ev.value !== undefined ? this.#parse(addressClaimSchema, ev.key, ev.value) : undefined;
      this.table.setClaim(ip, v ? { value: v, rev: ev.modRevision } : undefined);
    });
  }

  /** Re-reads one MAC's lease and one address claim after a lost compare-and-swap. */
  async #refresh(mac: string, ip: string, signal?: AbortSignal): Promise<void> {
    const opts = signal ? { signal } : {};
    const [l, c] = await Promise.all([this.#store.get(this.#keys.lease(mac), opts), this.#store.get(this.#keys.leaseAddress(ip), opts)]);
    const lv = l ? this.#parse(leaseSchema, l.key, l.value) : undefined;
    this.table.setLease(mac, lv && l ? { value: lv, rev: l.modRevision } : undefined);
    const cv = c ? this.#parse(addressClaimSchema, c.key, c.value) : undefined;
    this.table.setClaim(ip, cv && c ? { value: cv, rev: c.modRevision } : undefined);
  }

  leaseOf(mac: string): Lease | undefined {
    return this.table.leases.get(mac)?.value;
  }

  /** Chooses an address and holds it for `holdMs` for this MAC (OFFER). */
  offer(mac: string, subnet: Subnet, holdMs: number, opts: PickOptions = {}): AddressPick {
    const now = this.#now();
    const p = this.table.pick(mac, subnet, now, opts);
    if (p.ip) this.table.hold(p.ip, mac, now + holdMs);
    return p;
  }

  /** May this MAC have this address now (REQUEST check)? */
  available(mac: string, ip: string): boolean {
    return this.table.freeFor(ipToInt(ip), mac, this.#now());
  }

  /** Writes a bound lease for `mac` on `ip` (ACK), atomically with its address claim. */
  async grant(mac: string, ip: string, subnet: Subnet, details: GrantDetails, signal?: AbortSignal): Promise<GrantResult> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.#now();
      if (!details.force && !this.table.freeFor(ipToInt(ip), mac, now)) return { ok: false, reason: 'taken' };
      const cur = this.table.leases.get(mac);
      const claim = this.table.claims.get(ipToInt(ip));
      const expiresAt = iso(now + subnet.leaseTime * 1000);
      const lease: Lease = {
        kind: 'Lease', mac, ip, state: 'bound', expiresAt, updatedAt: iso(now),
        subnet: `${subnet.network}/${subnet.prefix}`, server: details.server,
        ...(details.hostname ? { hostname: details.hostname } : {}),
        ...(details.clientId ? { clientId: details.clientId } : {}),
        ...(details.machine ? { machine: details.machine } : {}),
      };
      const newClaim: AddressClaim = { kind: 'LeaseAddress', ip, mac, state: 'bound', expiresAt };
      const compares: Compare[] = [
        { key: this.#keys.lease(mac), modRevision: cur?.rev ?? 0 },
        { key: this.#keys.leaseAddress(ip), modRevision: claim?.rev ?? 0 },
      ];
      const ops: Operation[] = [
        { type: 'put', key: this.#keys.lease(mac), value: JSON.stringify(lease) },
        { type: 'put', key: this.#keys.leaseAddress(ip), value: JSON.stringify(newClaim) },
      ];
      // The MAC moves to another address: its old claim goes (if it is still its own).
      const oldIp = cur && cur.value.ip !== ip ? cur.value.ip : undefined;
      const oldClaim = oldIp ? this.table.claims.get(ipToInt(oldIp)) : undefined;
      if (oldIp && oldClaim?.value.mac === mac) {
        compares.push({ key: this.#keys.leaseAddress(oldIp), modRevision: oldClaim.rev });
        ops.push({ type: 'delete', key: this.#keys.leaseAddress(oldIp) });
      }
      // Taking over an ended claim of another MAC: its stale lease record goes with it.
      const previous = claim?.value.mac && claim.value.mac !== mac ? claim.value.mac : undefined;
      const prevLease = previous ? this.table.leases.get(previous) : undefined;
      if (previous && prevLease?.value.ip === ip) {
        compares.push({ key: this.#keys.lease(previous), modRevision: prevLease.rev });
        ops.push({ type: 'delete', key: this.#keys.lease(previous) });
      }
      signal?.throwIfAborted();
      const r = await this.commits.txn(compares, ops);
      if (r.succeeded) {
        this.table.setLease(mac, { value: lease, rev: r.revision });
        this.table.setClaim(ip, { value: newClaim, rev: r.revision });
        if (oldIp && oldClaim?.value.mac === mac) this.table.setClaim(oldIp, undefined);
        if (previous && prevLease?.value.ip === ip) this.table.setLease(previous, undefined);
        this.table.unhold(ip, mac);
        return { ok: true, lease };
      }
      this.#log.debug({ mac, ip, attempt }, 'dhcp: lease compare-and-swap lost, re-reading');
      await this.#refresh(mac, ip, signal);
      if (oldIp) await this.#refresh(mac, oldIp, signal);
      if (previous) await this.#refresh(previous, ip, signal);
    }
    return { ok: false, reason: 'conflict' };
  }

  /** RELEASE (RFC 2131 §4.3.4): the address is free now; the record stays so the client gets it back. */
  async release(mac: string, ip: string, signal?: AbortSignal): Promise<boolean> {
    return this.#end(mac, ip, 'released', 0, signal);
  }

  /** DECLINE (RFC 2131 §4.3.3): the address is in use by someone else; quarantine it. */
  async decline(mac: string, ip: string, quarantineMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.#end(mac, ip, 'declined', quarantineMs, signal);
  }

  async #end(mac: string, ip: string, how: 'released' | 'declined', quarantineMs: number, signal?: AbortSignal): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.#now();
      const cur = this.table.leases.get(mac);
      const claim = this.table.claims.get(ipToInt(ip));
      if (!cur || cur.value.ip !== ip || claim?.value.mac !== mac) return false; // not this client's lease
      const compares: Compare[] = [
        { key: this.#keys.lease(mac), modRevision: cur.rev },
        { key: this.#keys.leaseAddress(ip), modRevision: claim.rev },
      ];
      let lease: Lease | undefined;
      let newClaim: AddressClaim;
      const ops: Operation[] = [];
      if (how === 'released') {
        lease = { ...cur.value, state: 'released', expiresAt: iso(now), updatedAt: iso(now) };
        newClaim = { kind: 'LeaseAddress', ip, mac, state: 'released', expiresAt: iso(now) };
        ops.push({ type: 'put', key: this.#keys.lease(mac), value: JSON.stringify(lease) });
      } else {
        newClaim = { kind: 'LeaseAddress', ip, state: 'declined', expiresAt: iso(now + quarantineMs) };
        ops.push({ type: 'delete', key: this.#keys.lease(mac) });
      }
      ops.push({ type: 'put', key: this.#keys.leaseAddress(ip), value: JSON.stringify(newClaim) });
      signal?.throwIfAborted();
      const r = await this.commits.txn(compares, ops);
      if (r.succeeded) {
        this.table.setLease(mac, lease ? { value: lease, rev: r.revision } : undefined);
        this.table.setClaim(ip, { value: newClaim, rev: r.revision });
        this.table.unhold(ip, mac);
        return true;
      }
      await this.#refresh(mac, ip, signal);
    }
    return false;
  }
}
