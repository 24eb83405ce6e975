// The tracker's seed-piece arbitration (swarm/blobs/tracker-server.ts): a refused CLAIM names the
// holder or the grantee of that piece, and the seed's granted pieces in flight are capped — beyond
// the cap the answer is "busy, ask again after retryMs", retryMs growing with the agents waiting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasBit } from '../../swarm/blobs/bitfield.ts';
import { HolderIndex } from '../../swarm/blobs/holders.ts';
import { decodeHolders, encodeReply } from '../../swarm/blobs/tracker.ts';
import { BUSY_RETRY_MS, busyRetryMs, grantCap, INITIAL_GRANTS, MAX_GRANTS, MIN_GRANTS, TrackerServer, type TrackerServerCounters } from '../../swarm/blobs/tracker-server.ts';
import { emptyBits, setBit } from '../../swarm/blobs/bitfield.ts';
import { encodeHave } from '../../swarm/blobs/have.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

function tracker(maxGrants?: number, holdMs?: number): { ts: TrackerServer; index: HolderIndex; c: TrackerServerCounters } {
  const index = new HolderIndex({ ttlMs: 60_000 });
  const c: TrackerServerCounters = { pushesIn: 0, pushesRejected: 0, queriesIn: 0, granted: 0, denied: 0, grantsBusy: 0 };
  return { ts: new TrackerServer({ index, claimTtlMs: 5000, counters: c, ...(maxGrants ? { maxGrants } : {}), ...(holdMs !== undefined ? { holdMs } : {}) }), index, c };
}

/** A have message as an agent pushes it (have.ts): piece bits of one blob. */
function push(pieces: number, have: Uint8Array, sha = A): Uint8Array {
  return encodeHave({ v: 1, addrs: [], blobs: [{ sha256: sha, pieces, have: Buffer.from(have).toString('base64') }] });
}

function has(pieces: number, ...set: number[]): Uint8Array {
  const b = emptyBits(pieces);
  for (const i of set) setBit(b, i);
  return b;
}

test('a refused claim names the peer that holds the piece, with its address and bitfield', () => {
  const { ts, index, c } = tracker();
  index.update('x', { addrs: ['/ip4/10.213.129.9/tcp/4001/p2p/x'], http: 'http://10.213.129.9:8080/blobs' }, [{ sha256: A, pieces: 4, have: has(4, 2) }]);
  const r = ts.grant('y', A, 2, 4);
  assert.equal(r.ok, false);
  const a = decodeHolders(encodeReply(r.reply!), Date.now());
  assert.ok(a.ok);
  assert.equal(a.retryMs, undefined);
  assert.deepEqual(a.holders.map((h) => [h.peerId, h.http, h.addrs]), [['x', 'http://10.213.129.9:8080/blobs', ['/ip4/10.213.129.9/tcp/4001']]]);
  const b = a.holders[0]!.blobs[0]!;
  assert.ok(b.have !== 'all' && hasBit(b.have, 2));
  assert.equal(c.denied, 1);
  // A piece nobody has or claims: granted, and recorded as the asker's claim.
  assert.equal(ts.grant('y', A, 3, 4).ok, true);
  assert.equal(c.granted, 1);
});

test("a refused claim names the grantee as fetching the piece now, though its own push does not show the claim yet", () => {
  const { ts, index } = tracker();
  assert.equal(ts.grant('x', A, 1, 4).ok, true);
  // x pushes what it had before it heard of the grant (no claim bit), 0 ms later.
  index.update('x', { addrs: [], http: 'http://10.213.129.9:8080/blobs' }, [{ sha256: A, pieces: 4, have: has(4) }]);
  const r = ts.grant('y', A, 1, 4);
  assert.equal(r.ok, false);
  const now = Date.now();
  const a = decodeHolders(encodeReply(r.reply!), now);
  assert.ok(a.ok);
  const b = a.holders[0]!.blobs[0]!;
  assert.equal(a.holders[0]!.peerId, 'x');
  assert.ok(b.fetching && hasBit(b.fetching, 1), 'named as fetching piece 1');
  assert.ok(now - b.at < 1000, `fresh (${now - b.at} ms old): the asker waits for it instead of forcing the seed`);
});

test('granted seed pieces in flight are capped: beyond the cap "busy" with a retry, and a delivered piece frees its grant', () => {
  const { ts, index, c } = tracker(2);
  assert.equal(ts.grant('a', A, 0, 4).ok, true);
  assert.equal(ts.grant('b', B, 0, 2).ok, true);
  const r = ts.grant('c', A, 1, 4);
  assert.equal(r.ok, false);
  const busy = decodeHolders(encodeReply(r.reply!), Date.now());
  assert.ok(busy.ok);
  assert.deepEqual(busy.holders, [], 'busy names nobody');
  assert.equal(busy.retryMs, BUSY_RETRY_MS);
  assert.equal(c.grantsBusy, 1);
  // The grantee asking again for its own piece (a retry after a failed download) is not refused.
  assert.equal(ts.grant('a', A, 0, 4).ok, true);
  // a has piece 0 now (its push says so): one grant in flight, c's claim goes through.
  index.update('a', { addrs: [] }, [{ sha256: A, pieces: 4, have: has(4, 0) }]);
  assert.equal(ts.grant('c', A, 1, 4).ok, true);
  // Full again: the retry grows with the agents told "busy" within the last second.
  for (const p of ['d', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm']) ts.grant(p, A, 2, 4);
  const last = decodeHolders(encodeReply(ts.grant('n', A, 2, 4).reply!), Date.now());
  assert.ok(last.ok);
  assert.equal(last.retryMs, busyRetryMs(12), 'c, d … m and n were told "busy"');
  assert.ok(last.retryMs! > BUSY_RETRY_MS);
});

test('busy retry: the waiting agents ask about twice as often as grants free up; 250 ms … 4 s', () => {
  // Nothing delivered yet: 25 asks a second in all.
  assert.equal(busyRetryMs(1), 250);
  assert.equal(busyRetryMs(10), 400);
  assert.equal(busyRetryMs(32), 1280);
  // 20 Mbit/s in 1 MiB pieces: 2.4 deliveries a second → 4.8 asks a second.
  assert.equal(busyRetryMs(8, 2.4), 1667);
  assert.equal(busyRetryMs(32, 2.4), 4000);
  // 100 Mbit/s: 12 a second.
  assert.equal(busyRetryMs(32, 12), 1333);
  assert.equal(busyRetryMs(1000), 4000);
});

test('the grant cap follows the rate the seed delivers at: ≈ 2 s of deliveries plus 2, within 4 … 64', () => {
  assert.equal(grantCap(undefined), INITIAL_GRANTS);
  assert.equal(grantCap(0.5), MIN_GRANTS);
  // 20 Mbit/s in 1 MiB pieces ≈ 2.4 pieces/s; 100 Mbit/s ≈ 12.
  assert.equal(grantCap(2.4), 7);
  assert.equal(grantCap(12), 26);
  assert.equal(grantCap(1000), MAX_GRANTS);
  // Measured: 12 pieces granted and delivered (the grantee's push shows each) within a second.
  const { ts, index } = tracker();
  assert.equal(ts.cap(), INITIAL_GRANTS);
  const have = has(16);
  for (let i = 0; i < 12; i++) {
    assert.equal(ts.grant('x', A, i, 16).ok, true);
    setBit(have, i);
    index.update('x', { addrs: [] }, [{ sha256: A, pieces: 16, have: new Uint8Array(have) }]);
  }
  assert.equal(ts.grant('y', A, 12, 16).ok, true, 'the deliveries were counted when the next claim looked');
  assert.equal(ts.cap(), grantCap(12), 'the 12 deliveries, in the last second');
  assert.ok(ts.cap() > INITIAL_GRANTS);
});

test('a claim over the cap waits for a grant to free: granted when the grantee\'s push shows its piece, first come first served', async () => {
  const { ts, c } = tracker(1, 10_000);
  assert.equal(ts.grant('a', A, 0, 4).ok, true);
  const first = ts.claim('b', A, 1, 4);
  const second = ts.claim('c', A, 2, 4);
  assert.ok(first instanceof Promise && second instanceof Promise, 'both wait');
  assert.equal(ts.waiting, 2);
  let secondDone = false;
  void second.then(() => (secondDone = true));
  // A push that does not deliver the granted piece frees nothing.
  assert.equal(ts.onPush('a', push(4, has(4))), true);
  await new Promise((r) => setImmediate(r));
  assert.equal(ts.waiting, 2);
  // a has piece 0 now: the oldest waiting claim gets the grant at once, the other waits on.
  assert.equal(ts.onPush('a', push(4, has(4, 0))), true);
  assert.deepEqual(await first, { ok: true });
  await new Promise((r) => setImmediate(r));
  assert.equal(secondDone, false);
  assert.equal(ts.waiting, 1);
  assert.equal(c.granted, 2);
  assert.equal(c.grantsBusy, 0, 'nobody was told busy');
  ts.close();
  const closed = await second;
  assert.equal(closed.ok, false);
  assert.ok(decodeHolders(encodeReply(closed.reply!), Date.now()).ok);
  assert.equal(ts.waiting, 0);
});

test('a waiting claim whose piece found a holder meanwhile is refused with that holder', async () => {
  const { ts, index } = tracker(1, 10_000);
  assert.equal(ts.grant('a', A, 0, 4).ok, true);
  const waiting = ts.claim('b', A, 3, 4);
  assert.ok(waiting instanceof Promise);
  // x got piece 3 elsewhere (an older grant): the seed should not send it again.
  index.update('x', { addrs: [], http: 'http://10.213.129.9:8080/blobs' }, [{ sha256: A, pieces: 4, have: has(4, 3) }]);
  assert.equal(ts.onPush('a', push(4, has(4, 0))), true);
  const r = await waiting;
  assert.equal(r.ok, false);
  const a = decodeHolders(encodeReply(r.reply!), Date.now());
  assert.ok(a.ok);
  assert.deepEqual(a.holders.map((h) => h.peerId), ['x']);
});

test('a waiting claim is told "busy" with a retry when no grant frees within holdMs; a peer that leaves takes its claims along', async () => {
  const { ts, c } = tracker(1, 30);
  assert.equal(ts.grant('a', A, 0, 4).ok, true);
  const t0 = Date.now();
  const r = await ts.claim('b', A, 1, 4);
  assert.ok(Date.now() - t0 >= 25, 'it waited');
  assert.equal(r.ok, false);
  const busy = decodeHolders(encodeReply(r.reply!), Date.now());
  assert.ok(busy.ok && busy.retryMs !== undefined && busy.holders.length === 0);
  assert.equal(c.grantsBusy, 1);
  const { ts: ts2 } = tracker(1, 10_000);
  assert.equal(ts2.grant('a', A, 0, 4).ok, true);
  const gone = ts2.claim('b', A, 1, 4);
  ts2.forgetPeer('b');
  assert.deepEqual(await gone, { ok: false });
  assert.equal(ts2.waiting, 0);
  // holdMs 0: "busy" at once, as grant() answers.
  const { ts: ts3 } = tracker(1, 0);
  assert.equal(ts3.grant('a', A, 0, 4).ok, true);
  const now = ts3.claim('b', A, 1, 4);
  assert.ok(!(now instanceof Promise) && now.ok === false);
});

test('a new claim does not pass the waiting ones: a grant that ended unseen goes to the oldest waiting claim first', async () => {
  const { ts, index } = tracker(1, 10_000);
  index.update('a', { addrs: [] }, [{ sha256: A, pieces: 4, have: has(4) }]);
  assert.equal(ts.grant('a', A, 0, 4).ok, true);
  const b = ts.claim('b', A, 1, 4);
  assert.ok(b instanceof Promise);
  // a's entry is gone (no push tells the tracker): its grant has ended, unseen until someone asks.
  index.forgetPeer('a');
  const c = ts.claim('c', A, 2, 4);
  assert.deepEqual(await b, { ok: true }, 'the waiting claim got the freed grant');
  assert.ok(c instanceof Promise, 'the newcomer waits behind it');
  assert.equal(ts.waiting, 1);
  ts.close();
  assert.equal((await c).ok, false);
});
