// Pure lease table and address choice. Holds what the store holds (leases by MAC, address claims
// by address, each with the mod revision for compare-and-swap) plus this seed's pending offers.
// No I/O and no clock: `now` is passed in. The repository (leases.ts) keeps it in step with the store.
import type { AddressClaim, Lease } from '../../core/model/lease.ts';
import type { Subnet } from './config.ts';
import { intToIp, ipToInt } from './options.ts';

export interface Versioned<T> { value: T; rev: number }

export interface PickOptions {
  /** Option 50 of the request. */
  requested?: string;
  /** The machine's fixed address. */
  reserved?: string;
  /** Addresses never given out (the seed's own, the router). */
  excluded?: ReadonlySet<number>;
  /** Is this address another machine's fixed address? */
  reservedForOthers?: (ip: number) => boolean;
}

interface Offer { mac: string; until: number }

export type AddressPick = { ip: string; why: 'reserved' | 'current' | 'requested' | 'free' | 'expired' } | { ip?: undefined; why: 'pool-full' | 'reserved-taken' };

export class LeaseTable {
  readonly leases = new Map<string, Versioned<Lease>>();
  readonly claims = new Map<number, Versioned<AddressClaim>>();
  readonly #offers = new Map<number, Offer>();
  /** The address on offer to each MAC (at most one). */
  readonly #offerByMac = new Map<string, number>();
  /** Per subnet start: where the scan for never-used addresses resumes. */
  readonly #cursor = new Map<number, number>();

  setLease(mac: string, v: Versioned<Lease> | undefined): void {
    if (v) this.leases.set(mac, v);
    else this.leases.delete(mac);
  }

  setClaim(ip: string, v: Versioned<AddressClaim> | undefined): void {
    const n = ipToInt(ip);
    if (v) this.claims.set(n, v);
    else this.claims.delete(n);
  }

  hold(ip: string, mac: string, until: number): void {
    const n = ipToInt(ip);
    const prev = this.#offerByMac.get(mac);
    if (prev !== undefined && prev !== n && this.#offers.get(prev)?.mac === mac) this.#offers.delete(prev);
    this.#offers.set(n, { mac, until });
    this.#offerByMac.set(mac, n);
  }

  unhold(ip: string, mac: string): void {
    const n = ipToInt(ip);
    if (this.#offers.get(n)?.mac === mac) this.#offers.delete(n);
    if (this.#offerByMac.get(mac) === n) this.#offerByMac.delete(mac);
  }

  /** Drops offers that have timed out (called now and then, keeps the maps small). */
  sweep(now: number): void {
    for (const [ip, o] of this.#offers) {
      if (o.until > now) continue;
      this.#offers.delete(ip);
      if (this.#offerByMac.get(o.mac) === ip) this.#offerByMac.delete(o.mac);
    }
  }

  /**
   * May `mac` have `ip` now? Yes when nobody claims it, when `mac` holds it, or when the claim of
   * another MAC has ended (expired or released) — unless a live offer to another MAC holds it.
   * A declined address is quarantined until its claim expires.
   */
  freeFor(ip: number, mac: string, now: number): boolean {
    const o = this.#offers.get(ip);
    if (o && o.mac !== mac && o.until > now) return false;
    const c = this.claims.get(ip)?.value;
    if (!c) return true;
    if (c.mac === mac && c.state !== 'declined') return true;
    return Date.parse(c.expiresAt) <= now;
  }

  /** Never claimed and not on offer: first choice for a new client. */
  #unused(ip: number, now: number): boolean {
    const o = this.#offers.get(ip);
    return !this.claims.has(ip) && !(o && o.until > now);
  }

  /**
   * Chooses an address for `mac` in `subnet`, in this order: its reservation; its current (or last)
   * address; the address it asks for (option 50) if unused; the lowest never-used address; the
   * claim of another MAC that ended longest ago. A live lease is never taken.
   */
  pick(mac: string, subnet: Subnet, now: number, opts: PickOptions = {}): AddressPick {
    const inRange = (n: number): boolean => n >= subnet.start && n <= subnet.end;
    const usable = (n: number): boolean => !opts.excluded?.has(n) && !opts.reservedForOthers?.(n);
    if (opts.reserved) {
      // A reservation always wins over dynamic leases (issue 3); only a decline blocks it.
      const n = ipToInt(opts.reserved);
      const c = this.claims.get(n)?.value;
      return c?.state === 'declined' && Date.parse(c.expiresAt) > now ? { why: 'reserved-taken' } : { ip: opts.reserved, why: 'reserved' };
    }
    const cur = this.leases.get(mac)?.value;
    if (cur) {
      const n = ipToInt(cur.ip);
      if (inRange(n) && usable(n) && this.freeFor(n, mac, now)) return { ip: cur.ip, why: 'current' };
    }
    const offered = this.#offerByMac.get(mac);
    if (offered !== undefined && inRange(offered) && usable(offered) && this.freeFor(offered, mac, now)) return { ip: intToIp(offered), why: 'current' };
    if (opts.requested) {
      const n = ipToInt(opts.requested);
      if (inRange(n) && usable(n) && (this.#unused(n, now) || this.claims.get(n)?.value.mac === mac) && this.freeFor(n, mac, now)) {
        return { ip: opts.requested, why: 'requested' };
      }
    }
    const size = subnet.end - subnet.start + 1;
    const from = this.#cursor.get(subnet.start) ?? subnet.start;
    for (let i = 0; i < size; i++) {
      const n = subnet.start + ((from - subnet.start + i) % size);
      if (usable(n) && this.#unused(n, now)) {
        this.#cursor.set(subnet.start, n);
        return { ip: intToIp(n), why: 'free' };
      }
    }
    // Pool has no never-used address: reuse ended claims, oldest first.
    let best: number | undefined;
    let bestEnd = Infinity;
    for (const [n, c] of this.claims) {
      if (!inRange(n) || !usable(n)) continue;
      const end = Date.parse(c.value.expiresAt);
      if (end > now || end >= bestEnd) continue;
      if (!this.freeFor(n, mac, now)) continue;
      best = n;
      bestEnd = end;
    }
    return best === undefined ? { why: 'pool-full' } : { ip: intToIp(best), why: 'expired' };
  }
}
