import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore, MemoryCluster } from '../../store/memory.ts';
import { Keys } from '../../core/keys.ts';
import { silentLogger } from '../../core/log.ts';
import { LeaseRepository } from '../../seed/dhcp/leases.ts';
import { parseRange } from '../../seed/dhcp/config.ts';
import { leaseSchema, addressClaimSchema } from '../../core/model/lease.ts';
import { waitFor } from '../helpers/netns.ts';

const keys = new Keys('/lpmos/', 'test');
const subnet = (r = '10.213.0.10-10.213.0.13') => parseRange(r, { dns: [], leaseTime: 60 });
const mac = (i: number): string => `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`;

function repo(store: MemoryStore, clock: { t: number }): LeaseRepository {
  return new LeaseRepository(store, keys, silentLogger(), () => clock.t);
}

async function dora(r: LeaseRepository, m: string, s = subnet()): Promise<string | undefined> {
  const p = r.offer(m, s, 30_000);
  if (!p.ip) return undefined;
  const g = await r.grant(m, p.ip, s, { server: '10.213.0.1' });
  return g.ok ? g.lease.ip : undefined;
}

test('grant writes the lease and its address claim, both valid records', async () => {
  const store = new MemoryStore();
  const r = repo(store, { t: Date.parse('2026-01-01T00:00:00Z') });
  assert.equal(await dora(r, mac(1)), '10.213.0.10');
  const lease = leaseSchema.parse(JSON.parse((await store.get(keys.lease(mac(1))))!.value));
  assert.equal(lease.ip, '10.213.0.10');
  assert.equal(lease.state, 'bound');
  assert.equal(lease.expiresAt, '2026-01-01T00:01:00.000Z');
  const claim = addressClaimSchema.parse(JSON.parse((await store.get(keys.leaseAddress('10.213.0.10')))!.value));
  assert.equal(claim.mac, mac(1));
});

test('offers hold addresses; full pool gives nothing and never evicts a live lease', async () => {
  const r = repo(new MemoryStore(), { t: 1_000_000 });
  const s = subnet();
  const offered = [1, 2, 3, 4].map((i) => r.offer(mac(i), s, 30_000).ip);
  assert.deepEqual(offered, ['10.213.0.10', '10.213.0.11', '10.213.0.12', '10.213.0.13']);
  assert.deepEqual(r.offer(mac(5), s, 30_000), { why: 'pool-full' });
  for (const i of [1, 2, 3, 4]) assert.ok((await r.grant(mac(i), offered[i - 1]!, s, { server: '10.213.0.1' })).ok);
  assert.equal(r.offer(mac(5), s, 30_000).ip, undefined);
  // The same client asking again gets its own address.
  assert.equal(r.offer(mac(2), s, 30_000).ip, '10.213.0.11');
});

test('expired leases are reused oldest first; the old holder gets a new address later', async () => {
  const clock = { t: 1_000_000 };
  const r = repo(new MemoryStore(), clock);
  for (const i of [1, 2, 3, 4]) { await dora(r, mac(i)); clock.t += 1000; }
  clock.t += 120_000; // all expired; mac(1)'s ended first
  assert.equal(await dora(r, mac(9)), '10.213.0.10');
  assert.equal(await dora(r, mac(8)), '10.213.0.11');
  assert.equal(r.leaseOf(mac(1)), undefined, 'the stale lease of the old holder is gone');
});

test('RELEASE frees the address; the client gets the same one back', async () => {
  const clock = { t: 1_000_000 };
  const r = repo(new MemoryStore(), clock);
  const s = subnet('10.213.0.10-10.213.0.10');
  assert.equal(await dora(r, mac(1), s), '10.213.0.10');
  assert.equal(r.offer(mac(2), s, 1).ip, undefined);
  assert.ok(await r.release(mac(1), '10.213.0.10'));
  assert.equal(r.leaseOf(mac(1))?.state, 'released');
  assert.equal(await dora(r, mac(1), s), '10.213.0.10');
  assert.ok(await r.release(mac(1), '10.213.0.10'));
  clock.t += 1;
  assert.equal(await dora(r, mac(2), s), '10.213.0.10');
});

test('DECLINE quarantines the address for everyone until the quarantine ends', async () => {
  const clock = { t: 1_000_000 };
  const r = repo(new MemoryStore(), clock);
  const s = subnet('10.213.0.10-10.213.0.11,lease=3600');
  assert.equal(await dora(r, mac(1), s), '10.213.0.10');
  assert.ok(await r.decline(mac(1), '10.213.0.10', 600_000));
  assert.equal(r.leaseOf(mac(1)), undefined);
  assert.equal(await dora(r, mac(1), s), '10.213.0.11');
  assert.equal(r.offer(mac(2), s, 1).ip, undefined, 'quarantined address is not offered');
  clock.t += 600_001;
  assert.equal(await dora(r, mac(2), s), '10.213.0.10');
});

test('two seeds on one store never give one address to two MACs', async () => {
  const cluster = new MemoryCluster();
  const clock = { t: 1_000_000 };
  const a = repo(new MemoryStore(cluster), clock);
  const b = repo(new MemoryStore(cluster), clock);
  const s = subnet('10.213.0.10-10.213.0.19');
  // Both start empty and race for the same addresses.
  const results = await Promise.all(Array.from({ length: 16 }, (_, i) => dora(i % 2 ? a : b, mac(i + 1), s)));
  const given = results.filter((x): x is string => x !== undefined);
  assert.equal(new Set(given).size, given.length, `duplicates in ${given.join(',')}`);
  assert.ok(given.length >= 5);
  const stored = (await new MemoryStore(cluster).list(keys.leaseAddresses())).kvs.map((kv) => addressClaimSchema.parse(JSON.parse(kv.value)));
  assert.equal(stored.length, new Set(stored.map((c) => c.mac)).size);
});

test('a restarted repository loads every lease and keeps giving each MAC its address', async () => {
  const cluster = new MemoryCluster();
  const clock = { t: 1_000_000 };
  const a = repo(new MemoryStore(cluster), clock);
  const s = subnet('10.213.0.10-10.213.0.40');
  const before = new Map<string, string>();
  for (let i = 1; i <= 20; i++) before.set(mac(i), (await dora(a, mac(i), s))!);
  const b = repo(new MemoryStore(cluster), clock);
  assert.equal(await b.load(), 20);
  for (let i = 1; i <= 20; i++) assert.equal(b.offer(mac(i), s, 1).ip, before.get(mac(i)));
  assert.equal(b.offer(mac(99), s, 1).ip, '10.213.0.30');
});

test('reservations win; reserved addresses of others are skipped', async () => {
  const r = repo(new MemoryStore(), { t: 1_000_000 });
  const s = subnet('10.213.0.10-10.213.0.12');
  assert.equal(r.offer(mac(1), s, 1, { reservedForOthers: (n) => n === 0x0ad5000a }).ip, '10.213.0.11');
  const p = r.offer(mac(2), s, 1, { reserved: '10.213.0.11' });
  assert.deepEqual(p, { ip: '10.213.0.11', why: 'reserved' });
  assert.ok((await r.grant(mac(2), '10.213.0.11', s, { server: '10.213.0.1', force: true })).ok);
});

test('group commit: concurrent grants share transactions; a lost compare fails only its own entry', async () => {
  const store = new MemoryStore();
  const r = repo(store, { t: 1_000_000 });
  const s = subnet('10.213.0.10-10.213.0.250');
  const picks = Array.from({ length: 60 }, (_, i) => ({ m: mac(i + 1), ip: r.offer(mac(i + 1), s, 30_000).ip! }));
  // Someone else takes the address of client 7 behind this repository's back.
  await store.put(keys.leaseAddress(picks[6]!.ip), JSON.stringify({ kind: 'LeaseAddress', ip: picks[6]!.ip, mac: '02:99:00:00:00:01', state: 'bound', expiresAt: '2099-01-01T00:00:00.000Z' }));
  const results = await Promise.all(picks.map((p) => r.grant(p.m, p.ip, s, { server: '10.213.0.1' })));
  assert.equal(results.filter((x) => x.ok).length, 59);
  assert.deepEqual(results[6], { ok: false, reason: 'taken' });
  assert.ok(r.commits.txns < 60, `expected fewer transactions than grants, got ${r.commits.txns}`);
  const stored = (await store.list(keys.leases())).kvs.length;
  assert.equal(stored, 59);
});

test('a following repository sees another seed\'s grants and offers around them', async () => {
  const cluster = new MemoryCluster();
  const clock = { t: 1_000_000 };
  const a = repo(new MemoryStore(cluster), clock);
  const b = repo(new MemoryStore(cluster), clock);
  await b.load();
  const stop = new AbortController();
  b.follow(b.revision + 1, stop.signal);
  try {
    const s = subnet('10.213.0.10-10.213.0.11');
    assert.equal(await dora(a, mac(1), s), '10.213.0.10');
    await waitFor('b follows a', () => b.leaseOf(mac(1)));
    assert.equal(b.leaseOf(mac(1))?.ip, '10.213.0.10');
    assert.equal(b.offer(mac(2), s, 1000).ip, '10.213.0.11', 'b does not offer what a gave away');
  } finally {
    stop.abort();
  }
});
