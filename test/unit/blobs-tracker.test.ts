// The seed as tracker (swarm/blobs/tracker.ts): the holders answer's codec, which holders an answer
// names, the seed-piece arbitration, the new wire requests and the holder index's claims.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HaveEntry } from '../../swarm/blobs/api.ts';
import { emptyBits, fullBits, hasBit, setBit } from '../../swarm/blobs/bitfield.ts';
import { HolderIndex } from '../../swarm/blobs/holders.ts';
import { CLAIMERS_PER_BLOB, decodeHolders, encodeBusy, encodeHolders, HOLDERS_PER_BLOB, mayTakeFromSeed, pickHolders, SeedGrants } from '../../swarm/blobs/tracker.ts';
import { MAX_SESSION_PEERS, PeerDirectory, PeerNumbers } from '../../swarm/blobs/peer-table.ts';
import { decodeRequest, encodeRequest, ReqType, requestLength, type Request } from '../../swarm/blobs/wire.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

function entry(peerId: string, sha256: string, pieces: number, opts: { have?: number[]; all?: boolean; fetching?: number[]; at?: number } = {}): HaveEntry {
  const have = opts.all ? fullBits(pieces) : emptyBits(pieces);
  for (const i of opts.have ?? []) setBit(have, i);
  const e: HaveEntry = { peerId, sha256, pieces, have, addrs: [`/ip4/10.213.160.9/tcp/4001/p2p/${peerId}`], http: `http://10.213.160.9:8080/blobs`, at: opts.at ?? 1000 };
  if (opts.fetching) {
    const f = emptyBits(pieces);
    for (const i of opts.fetching) setBit(f, i);
    e.fetching = f;
  }
  return e;
}

test('tracker answer: round trip grouped by holder, ages become times on the receiver clock; junk refused', () => {
  const es = [entry('p1', A, 10, { all: true, at: 900 }), entry('p1', B, 3, { have: [1], fetching: [2], at: 950 }), entry('p2', A, 10, { have: [0, 9], at: 990 })];
  const bytes = encodeHolders(es, 1000);
  const r = decodeHolders(bytes, 5000);
  assert.ok(r.ok);
  assert.equal(r.holders.length, 2);
  const p1 = r.holders.find((h) => h.peerId === 'p1')!;
  assert.equal(p1.http, 'http://10.213.160.9:8080/blobs');
  assert.deepEqual(p1.addrs, ['/ip4/10.213.160.9/tcp/4001'], 'one address, without the peer id the answer already names');
  assert.deepEqual(
    p1.blobs.map((b) => [b.sha256, b.at, b.have === 'all']),
    [
      [A, 4900, true],
      [B, 4950, false],
    ],
  );
  const b = p1.blobs[1]!;
  assert.ok(b.have !== 'all' && hasBit(b.have, 1) && !hasBit(b.have, 0));
  assert.ok(b.fetching && hasBit(b.fetching, 2));
  // Each peer once, each blob once (v 2): p1 holds two blobs, A has two holders.
  const json = JSON.parse(Buffer.from(bytes).toString('utf8')) as { peers: unknown[]; blobs: { holders: unknown[] }[] };
  assert.equal(json.peers.length, 2);
  assert.deepEqual(json.blobs.map((x) => x.holders.length), [2, 1]);
  const junk = (blob: string): boolean => decodeHolders(Buffer.from('{"v":2,"peers":[{"peer":"x","addrs":[]}],"blobs":[' + blob + ']}'), 0).ok;
  assert.equal(junk('{"sha256":"' + A + '","pieces":3,"holders":[{"p":0,"have":"AA==","age":1}]}'), true);
  assert.equal(junk('{"sha256":"' + A + '","pieces":3,"holders":[{"p":0,"have":"AAAA","age":1}]}'), false, 'bitfield of the wrong length');
  assert.equal(junk('{"sha256":"' + A + '","pieces":3,"holders":[{"p":1,"have":"*","age":1}]}'), false, 'a holder that is not in the peers');
  assert.equal(decodeHolders(Buffer.from('{"v":1,"peers":[]}'), 0).ok, false, 'the old grouping');
  assert.equal(decodeHolders(Buffer.from('nope'), 0).ok, false);
  assert.equal(decodeHolders(Buffer.from('{"v":2,"peers":[]}'), 0).ok, false);
});

test('tracker session answers (v 3) name each peer once: later answers refer to it by number and decode to the same holders', () => {
  const numbers = new PeerNumbers();
  const dir = new PeerDirectory();
  const crowd = Array.from({ length: 14 }, (_, i) => entry(`12D3KooWpeer${String(i).padStart(40, 'x')}`, A, 32, { have: [i], at: 900 }));
  const first = encodeHolders(crowd, 1000, numbers);
  const again = encodeHolders(crowd.map((e) => ({ ...e, at: 950 })), 1000, numbers);
  const v2 = encodeHolders(crowd, 1000);
  const r1 = decodeHolders(first, 5000, dir);
  const r2 = decodeHolders(again, 5000, dir);
  assert.ok(r1.ok && r2.ok);
  assert.deepEqual(r2.holders.map((h) => [h.peerId, h.addrs, h.http]), r1.holders.map((h) => [h.peerId, h.addrs, h.http]));
  assert.deepEqual(r2.holders.map((h) => h.blobs[0]!.at), Array(14).fill(4950));
  assert.equal((JSON.parse(Buffer.from(again).toString()) as { peers: unknown[] }).peers.length, 0, 'no peer named twice');
  assert.ok(again.length * 2.5 < v2.length, `a repeat answer ${again.length} bytes, v 2 ${v2.length}`);
  // A holder that moved gets a new number and is named again.
  const moved = { ...crowd[0]!, http: 'http://10.213.160.99:8080/blobs' };
  const r3 = decodeHolders(encodeHolders([moved], 1000, numbers), 5000, dir);
  assert.ok(r3.ok);
  assert.equal(r3.holders[0]!.http, 'http://10.213.160.99:8080/blobs');
  // Out of step (an answer not decoded, or no session at all): refused, never a wrong peer.
  const lost = encodeHolders([entry('newcomer', A, 32, { all: true })], 1000, numbers);
  const after = encodeHolders([entry('newcomer', B, 4, { all: true })], 1000, numbers);
  const d = decodeHolders(after, 5000, dir);
  assert.ok(!d.ok && /not a peer this session named/.test(d.detail), 'the answer that named it was skipped');
  assert.ok(decodeHolders(lost, 5000, dir).ok);
  assert.equal(decodeHolders(first, 0).ok, false, 'v 3 outside a session');
  // v 2 (1.0.0 sessions, a stream per request) decodes as before, with or without a directory.
  assert.ok(decodeHolders(v2, 0, new PeerDirectory()).ok);
});

test('a session\'s peer table starts over before it outgrows MAX_SESSION_PEERS; the answer says so and the requester forgets the old numbers', () => {
  const numbers = new PeerNumbers();
  const dir = new PeerDirectory();
  const batch = (k: number) => Array.from({ length: 100 }, (_, i) => entry(`p${k}-${i}`, A, 4, { all: true }));
  let k = 0;
  let reset = false;
  while (!reset) {
    const bytes = encodeHolders(batch(k++), 1000, numbers);
    const json = JSON.parse(Buffer.from(bytes).toString()) as { reset?: boolean; peers: { i: number }[] };
    reset = json.reset === true;
    assert.ok(decodeHolders(bytes, 1000, dir).ok);
    assert.ok(numbers.size <= MAX_SESSION_PEERS);
    if (reset) assert.equal(json.peers[0]!.i, 0, 'numbers start over');
  }
  assert.equal(k, Math.floor(MAX_SESSION_PEERS / 100) + 1);
  assert.equal(dir.size, 100, 'the requester dropped the numbers from before the reset');
  assert.equal(numbers.size, 100);
  // A busy answer carries the reset too when it is the first after one, and nothing else.
  numbers.reserve(MAX_SESSION_PEERS + 1);
  const busy = decodeHolders(encodeBusy(500, numbers), 0, dir);
  assert.ok(busy.ok && busy.retryMs === 500 && busy.holders.length === 0);
  assert.equal(dir.size, 0);
});

test('tracker picks every fresh claimer and at most HOLDERS_PER_BLOB others, never the asker', () => {
  const many = Array.from({ length: 40 }, (_, i) => entry(`h${i}`, A, 4, { all: true }));
  const claimers = [entry('c1', A, 4, { fetching: [0], at: 9000 }), entry('c2', A, 4, { fetching: [1], at: 9000 }), entry('old', A, 4, { fetching: [2], at: 1000 })];
  const picked = pickHolders([...many, ...claimers, entry('me', A, 4, { all: true })], { now: 10_000, claimTtlMs: 5000, exclude: 'me' });
  const ids = picked.map((e) => e.peerId);
  assert.ok(ids.includes('c1') && ids.includes('c2'), 'fresh claimers always named');
  assert.equal(ids.includes('me'), false);
  assert.equal(picked.length, 2 + HOLDERS_PER_BLOB);
  assert.equal(new Set(ids).size, ids.length);
  // Claimers are capped too: an answer stays bounded however many agents fetch.
  const crowd = Array.from({ length: 100 }, (_, i) => entry(`c${i}`, A, 4, { fetching: [i % 4], at: 9000 }));
  assert.equal(pickHolders(crowd, { now: 10_000, claimTtlMs: 5000 }).length, CLAIMERS_PER_BLOB + HOLDERS_PER_BLOB);
});

test('tracker arbitration: the first asker gets a seed piece; a holder or a fresh claim elsewhere refuses it', () => {
  const idx = new HolderIndex({ now: () => 10_000 });
  const ask = (peer: string, i: number): boolean => {
    const ok = mayTakeFromSeed(idx.holders(A), { peer, index: i, now: 10_000, claimTtlMs: 5000 });
    if (ok) idx.claim(peer, A, 8, i);
    return ok;
  };
  assert.equal(ask('x', 3), true);
  assert.equal(ask('y', 3), false, 'x fetches it');
  assert.equal(ask('x', 3), true, 'its own claim does not stop the claimer');
  assert.equal(ask('y', 4), true);
  const x = idx.holders(A).find((e) => e.peerId === 'x')!;
  assert.ok(x.fetching && hasBit(x.fetching, 3) && !hasBit(x.fetching, 4));
  // x announces piece 3 (the claim is over): now it is a holder, and still nobody else takes it from the seed.
  const have = emptyBits(8);
  setBit(have, 3);
  idx.update('x', { addrs: [] }, [{ sha256: A, pieces: 8, have }]);
  assert.equal(ask('z', 3), false);
  // A stale claim (its holder silent for longer than the TTL) does not block.
  assert.equal(mayTakeFromSeed([entry('gone', A, 8, { fetching: [5], at: 1000 })], { peer: 'z', index: 5, now: 10_000, claimTtlMs: 5000 }), true);
});

test('wire: PUSH, HOLDERS and CLAIM round trip; an oversize push is refused', () => {
  const reqs: Request[] = [
    { type: ReqType.Push, body: new Uint8Array([1, 2, 3]) },
    { type: ReqType.Holders, blobs: [A, B] },
    { type: ReqType.Claim, sha256: A, index: 7, pieces: 64 },
  ];
  for (const r of reqs) {
    const b = encodeRequest(r);
    assert.equal(requestLength(b), b.length);
    assert.deepEqual(decodeRequest(b), r);
  }
  const big = Buffer.alloc(5);
  big[0] = ReqType.Push;
  big.writeUInt32BE(10 * 1024 * 1024, 1);
  assert.equal(requestLength(big), -1);
});

test('holder index: a tracker answer older than what we heard ourselves does not replace it', () => {
  const idx = new HolderIndex({ now: () => 5000 });
  idx.update('p', { addrs: [] }, [{ sha256: A, pieces: 2, have: 'all' }]);
  idx.update('p', { addrs: [] }, [{ sha256: A, pieces: 2, have: emptyBits(2) }], [], 4000);
  assert.ok(hasBit(idx.holders(A)[0]!.have, 1));
});

test('seed grants: hold past a stale announcement until the piece arrives, is given up, or the TTL passes', () => {
  let now = 10_000;
  const g = new SeedGrants({ ttlMs: 30_000, releaseAfterMs: 1000, now: () => now });
  g.grant(A, 2, 'x');
  // x's push composed before it heard of the grant (no claim bit, 100 ms later): the grant stands.
  assert.equal(g.heldByOther(A, 2, 'y', [entry('x', A, 4, { at: 10_100 })]), true);
  assert.equal(g.heldByOther(A, 2, 'x', [entry('x', A, 4, { at: 10_100 })]), false, 'not against itself');
  // 20 s later, x silent but still claiming it (a slow seed): the grant stands (a claim alone would have expired at 5 s).
  now = 30_000;
  assert.equal(g.heldByOther(A, 2, 'y', [entry('x', A, 4, { fetching: [2], at: 10_100 })]), true);
  // x has it now: over (others take it from x).
  assert.equal(g.heldByOther(A, 2, 'y', [entry('x', A, 4, { have: [2], at: 30_000 })]), false);
  // Given up: a push well after the grant without the claim.
  g.grant(A, 3, 'x');
  now = 32_000;
  assert.equal(g.heldByOther(A, 3, 'y', [entry('x', A, 4, { at: 31_500 })]), false);
  // The TTL, and a grantee that left.
  g.grant(A, 1, 'x');
  now = 62_000;
  assert.equal(g.heldByOther(A, 1, 'y', [entry('x', A, 4, { fetching: [1], at: 61_000 })]), false);
  g.grant(A, 0, 'x');
  g.forgetPeer('x');
  assert.equal(g.heldByOther(A, 0, 'y', [entry('x', A, 4, { fetching: [0], at: 62_000 })]), false);
});
