// The seed as tracker (swarm/blobs/tracker.ts, issue 7) between real libp2p nodes on loopback,
// gated by enrollments in a real etcd, with the seed's real HTTP artifact route as the fallback:
// agents that fetch one blob together push what they hold to the seed and ask it for holders, so no
// agent receives another's announcements (with gossip every agent receives every other's); the
// seed hands each piece to one agent (its claims), the others take it from that agent; a fetcher
// learns a bounded number of holders however many hold the blob.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { addMachine } from '../../core/registry/machines.ts';
import type { Store } from '../../core/store/store.ts';
import { AgentSwarm } from '../../swarm/agent-swarm.ts';
import type { SeedSwarm } from '../../swarm/seed-swarm.ts';
import type { BlobManifest, BlobService } from '../../swarm/blobs/index.ts';
import { pieceRange } from '../../swarm/blobs/manifest.ts';
import { encodeHave } from '../../swarm/blobs/have.ts';
import { HOLDERS_PER_BLOB } from '../../swarm/blobs/tracker.ts';
import { TRACKER_PROTOCOL_V1, TrackerSession } from '../../swarm/blobs/tracker-session.ts';
import { ReqType, Status } from '../../swarm/blobs/wire.ts';
import { until } from '../helpers/until.ts';
import type { TestServer, artifactDir } from './http-helpers.ts';
import { SeedFixture } from './seed-fixture.ts';

const SITE = 'tracker';
const MiB = 1024 * 1024;
const PIECE = 256 * 1024;
let store: Store;
let http: TestServer;
let files: Awaited<ReturnType<typeof artifactDir>>;
let seed: SeedSwarm;
let seedBlobs: BlobService;
const fx = new SeedFixture(SITE, 'lpm-tracker');
const cleanups = fx.cleanups;
const keys = fx.keys;
let machines = 0;

before(async () => {
  ({ store, http, files, seed, seedBlobs } = await fx.start({ 'crowd-tracker.img': 4 * MiB + 17, 'crowd-gossip.img': 4 * MiB + 29, 'many.img': 2 * MiB + 5, 'bad.img': MiB + 3 }));
});

after(() => fx.stop());

afterEach(() => fx.endTest());

async function agent(tracker: boolean): Promise<AgentSwarm> {
  const machine = `tracker-${process.pid}-${++machines}`;
  await addMachine(store, keys, { name: machine, macs: [`52:54:00:c4:00:${machines.toString(16).padStart(2, '0')}`] });
  const swarm = await AgentSwarm.start({
    store, keys, site: SITE, machine, bootstrap: seed.bootstrapAddrs(), listen: ['/ip4/127.0.0.1/tcp/0'],
    blobs: { budget: 32 * MiB, http: { host: '127.0.0.1' }, ...(tracker ? {} : { tracker: false }), tuning: { pieceTimeoutMs: 5000 } },
  });
  cleanups.push(() => swarm.stop(0));
  await until(`${machine} connected to the seed`, () => seed.swarm.node.isConnected(swarm.peerId));
  return swarm;
}

/** Bytes the seed's HTTP server sent for one artifact, from its access log. */
function seedBytes(name: string): number {
  return http.log.filter((l) => l.msg === 'http request' && l.path === `/artifacts/${name}`).reduce((n, l) => n + Number(l.bytes ?? 0), 0);
}

async function sha256Of(b: BlobService, sha: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of b.store.read(sha)) h.update(c as Uint8Array);
  return h.digest('hex');
}

const N = 6;

/** N agents fetch one blob together (seed URL as fallback); what each received and sent. */
async function crowd(tracker: boolean): Promise<{ agents: AgentSwarm[]; received: () => number[]; sent: number[]; queries: number[]; session: { requests: number; opened: number }[]; seedBytes: number; size: number; m: BlobManifest }> {
  const name = tracker ? 'crowd-tracker.img' : 'crowd-gossip.img';
  const f = files.files.get(name)!;
  const m = await seedBlobs.add(join(files.dir, name), { pieceSize: PIECE });
  const agents: AgentSwarm[] = [];
  for (let i = 0; i < N; i++) agents.push(await agent(tracker));
  // Gossip needs its mesh before anything is announced; the tracker needs nothing but the seed.
  if (!tracker) await until('every agent in the have topic mesh', () => agents.every((a) => a.swarm.node.pubsub.getSubscribers(a.blobs!.announcer.topic).length > 0));
  const url = `${http.base}/artifacts/${name}`;
  const rs = await Promise.all(agents.map((a) => a.blobs!.fetch(m, { seedUrl: url })));
  for (const a of agents) assert.equal(await sha256Of(a.blobs!, m.sha256), f.sha256);
  await until('seed access log written', () => seedBytes(name) >= rs.reduce((n, r) => n + r.fromSeed, 0));
  // Announcements of the last pieces are coalesced (≤ 250 ms): let them travel.
  await new Promise((r) => setTimeout(r, 1000));
  return {
    agents,
    received: () => agents.map((a) => a.blobs!.announcer.stats.received),
    sent: agents.map((a) => a.blobs!.announcer.stats.sent),
    queries: agents.map((a) => a.blobs!.tracker.queries),
    session: agents.map((a) => ({ requests: a.blobs!.tracker.sessionRequests, opened: a.blobs!.tracker.sessionsOpened })),
    seedBytes: seedBytes(name),
    size: f.data.length,
    m,
  };
}

test(`${N} agents fetch one blob through the tracker: none receives another's announcement, the seed sends it about once`, async () => {
  const pushesBefore = seedBlobs.tracker.pushesIn;
  const t = await crowd(true);
  const tReceived = t.received();
  const g = await crowd(false);
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  // Tracker: nothing arrives by gossip; announcements went to the seed, one message each.
  assert.deepEqual(tReceived, new Array<number>(N).fill(0), 'no announcement reached an agent');
  // Gossip: each agent's announcements reach the others (the O(N²) the tracker removes).
  await until(`gossip: every agent received others' announcements`, () => g.received().every((n) => n > 0), 5000, 100);
  assert.ok(sum(t.sent) > 0);
  await until('the tracker received every push', () => seedBlobs.tracker.pushesIn - pushesBefore >= sum(t.sent));
  assert.ok(t.queries.every((q) => q >= 1), `every fetcher asked the tracker: ${t.queries.join(', ')}`);
  // Every push, query and claim went over one tracker stream per agent (tracker-session.ts), not a stream each.
  assert.ok(t.session.every((x) => x.opened === 1 && x.requests >= 2), `tracker sessions: ${JSON.stringify(t.session)}`);
  // The seed grants each piece to one agent; the others take it from that agent.
  assert.ok(t.seedBytes <= 1.5 * t.size, `seed sent ${(t.seedBytes / t.size).toFixed(2)}× the blob (gossip: ${(g.seedBytes / g.size).toFixed(2)}×)`);
  assert.ok(seedBlobs.tracker.granted >= t.m.pieces.length, `claims granted: ${seedBlobs.tracker.granted}`);
});

test('a fetcher learns holders from the tracker alone, at most HOLDERS_PER_BLOB of them however many hold the blob', async () => {
  const name = 'many.img';
  const f = files.files.get(name)!;
  const holders: AgentSwarm[] = [];
  let m: BlobManifest | undefined;
  for (let i = 0; i < HOLDERS_PER_BLOB + 3; i++) {
    const h = await agent(true);
    m = await h.blobs!.add(join(files.dir, name), { pieceSize: PIECE });
    holders.push(h);
  }
  await until('the tracker indexes every holder', () => seedBlobs.holders(m!.sha256).length === holders.length);
  const fetcher = await agent(true);
  assert.equal(fetcher.blobs!.holders(m!.sha256).length, 0, 'nothing heard before asking');
  await fetcher.blobs!.lookup(m!.sha256);
  const known = fetcher.blobs!.holders(m!.sha256).length;
  assert.equal(known, HOLDERS_PER_BLOB, `named ${known} of ${holders.length} holders`);
  const r = await fetcher.blobs!.fetch(m!, { seedUrl: `${http.base}/artifacts/${name}` });
  assert.equal(r.fromSeed, 0);
  assert.equal(r.fromPeers, f.data.length);
  assert.equal(await sha256Of(fetcher.blobs!, m!.sha256), f.sha256);
  assert.equal(fetcher.blobs!.announcer.stats.received, 0);
});

test('the tracker keeps naming a holder that sent bad bytes (it cannot know): the fetcher still gets the seed to fill in', async () => {
  const name = 'bad.img';
  const f = files.files.get(name)!;
  const m = await seedBlobs.add(join(files.dir, name), { pieceSize: PIECE });
  const bad = await agent(true);
  await bad.blobs!.store.open(m);
  for (let i = 0; i < m.pieces.length; i++) {
    const r = pieceRange(m, i);
    const piece = Buffer.from(f.data.subarray(r.start, r.end));
    piece[0] = piece[0]! ^ 0xff;
    await bad.blobs!.store.putPiece(m.sha256, i, piece);
  }
  await until('the tracker names the bad holder', () => seedBlobs.holders(m.sha256).some((h) => h.peerId === bad.peerId && h.have.every((b) => b !== 0)));
  const fetcher = await agent(true);
  // Every seed piece is refused while the bad holder "has" it; after a few refusals the fetcher takes it anyway.
  const r = await fetcher.blobs!.fetch(m, { seedUrl: `${http.base}/artifacts/${name}`, signal: AbortSignal.timeout(20_000) });
  assert.deepEqual(r.dropped, [bad.peerId]);
  assert.equal(r.fromSeed, f.data.length);
  assert.equal(await sha256Of(fetcher.blobs!, m.sha256), f.sha256);
  assert.ok(fetcher.blobs!.tracker.claimsDenied >= 1, `refusals: ${fetcher.blobs!.tracker.claimsDenied}`);
});

test('a claim over the seed\'s grant cap waits on the session stream without holding up the requests behind it, and is granted when a granted piece is delivered', async () => {
  const a = await agent(true);
  const ts = seedBlobs.trackerServer!;
  const session = new TrackerSession(a.swarm.node.libp2p, seed.peerId);
  cleanups.push(async () => session.close());
  const sha = 'c'.repeat(64);
  const pieces = 128;
  const signal = AbortSignal.timeout(20_000);
  const claim = (index: number) => session.request({ type: ReqType.Claim, sha256: sha, index, pieces }, signal);
  // Fill the cap (what the seed allows now) with grants to this agent.
  const cap = ts.cap();
  for (let i = 0; i < cap; i++) assert.equal((await claim(i)).status, Status.Ok, `piece ${i} granted`);
  let answered = false;
  const waiting = claim(cap).then((r) => ((answered = true), r));
  await until('the claim over the cap waits at the seed', () => ts.waiting === 1);
  // The session goes on: a holders query sent after the claim is answered before it.
  const h = await session.request({ type: ReqType.Holders, blobs: [sha] }, signal);
  assert.equal(h.status, Status.Ok);
  assert.equal(answered, false, 'the claim still waits');
  // Piece 0 arrived (the push says so): its grant ends and the waiting claim gets it.
  const have = new Uint8Array(pieces / 8);
  have[0] = 0x80;
  const p = await session.request({ type: ReqType.Push, body: encodeHave({ v: 1, addrs: [], blobs: [{ sha256: sha, pieces, have: Buffer.from(have).toString('base64') }] }) }, signal);
  assert.equal(p.status, Status.Ok);
  assert.equal((await waiting).status, Status.Ok, 'granted');
  assert.equal(ts.waiting, 0);
});

test('over a tracker session (1.1.0) the seed names each holder once: a repeated holders answer is under a third of the size and decodes the same; a 1.0.0 session still gets every peer in full', async () => {
  const holders = await Promise.all([agent(true), agent(true), agent(true)]);
  const fetcher = await agent(true);
  const sha = 'e'.repeat(64);
  const signal = AbortSignal.timeout(20_000);
  for (const [k, h] of holders.entries()) {
    const s = new TrackerSession(h.swarm.node.libp2p, seed.peerId);
    cleanups.push(async () => s.close());
    const body = encodeHave({ v: 1, addrs: [`/ip4/127.0.0.1/tcp/${40_000 + k}`], http: `http://127.0.0.1:${41_000 + k}/blobs`, blobs: [{ sha256: sha, pieces: 8, have: '*' }] });
    assert.equal((await s.request({ type: ReqType.Push, body }, signal)).status, Status.Ok);
  }
  const ask = async (s: TrackerSession): Promise<{ bytes: number; peers: string[] }> => {
    const before = s.stats.answerBytes;
    const r = await s.request({ type: ReqType.Holders, blobs: [sha] }, signal);
    assert.equal(r.status, Status.Ok);
    assert.ok(r.holders);
    return { bytes: s.stats.answerBytes - before, peers: r.holders.holders.map((h) => `${h.peerId} ${h.addrs.join()} ${h.http}`).sort() };
  };
  const v3 = new TrackerSession(fetcher.swarm.node.libp2p, seed.peerId);
  const v1 = new TrackerSession(fetcher.swarm.node.libp2p, seed.peerId, TRACKER_PROTOCOL_V1);
  cleanups.push(async () => v3.close(), async () => v1.close());
  const [a1, a2] = [await ask(v3), await ask(v3)];
  const [b1, b2] = [await ask(v1), await ask(v1)];
  assert.equal(a1.peers.length, 3);
  assert.ok(a1.peers.every((p) => /tcp\/4000\d http:\/\/127\.0\.0\.1:4100\d\/blobs$/.test(p)), a1.peers.join('; '));
  assert.deepEqual(a2.peers, a1.peers);
  assert.deepEqual(b1.peers, a1.peers);
  assert.deepEqual(b2.peers, a1.peers);
  assert.ok(a2.bytes * 3 < a1.bytes, `1.1.0: first answer ${a1.bytes} bytes, the repeat ${a2.bytes}`);
  assert.ok(Math.abs(b2.bytes - b1.bytes) <= 8, `1.0.0: ${b1.bytes} then ${b2.bytes} bytes (every peer in full)`);
});

test('a session request aborted while the stream it waits for is still opening fails at once instead of waiting for its answer', async () => {
  const a = await agent(true);
  const session = new TrackerSession(a.swarm.node.libp2p, seed.peerId);
  cleanups.push(async () => session.close());
  const sha = 'f'.repeat(64);
  // Both requests share the first one's dial; the second's signal aborts before the stream is open.
  const first = session.request({ type: ReqType.Holders, blobs: [sha] }, AbortSignal.timeout(20_000));
  const ac = new AbortController();
  const second = session.request({ type: ReqType.Holders, blobs: [sha] }, ac.signal);
  ac.abort();
  await assert.rejects(second, (e: unknown) => (e as Error).name === 'AbortError');
  assert.equal((await first).status, Status.Ok);
  assert.equal(session.stats.requests, 1, 'the aborted request was never sent');
});
