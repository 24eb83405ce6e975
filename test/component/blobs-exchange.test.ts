// The blob exchange between real libp2p nodes on loopback, gated by enrollments in a real etcd,
// with the seed's real HTTP artifact route as the fallback: a peer that corrupts pieces is dropped
// and the fetch still completes; a peer that vanishes mid-transfer is replaced; an unenrolled peer
// cannot fetch; two concurrent fetches of one blob cost one seed download; with no peers the seed
// serves it; three holders all contribute, over libp2p streams and over peer HTTP.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { after, afterEach, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { multiaddr } from '@multiformats/multiaddr';
import { addMachine } from '../../core/registry/machines.ts';
import type { Store } from '../../core/store/store.ts';
import { AgentSwarm } from '../../swarm/agent-swarm.ts';
import { EnrolledSwarm } from '../../swarm/enrolled-node.ts';
import type { SeedSwarm } from '../../swarm/seed-swarm.ts';
import { unenrollMachine } from '../../swarm/peers/enroll.ts';
import { BlobService, MemoryPieceStore, type BlobManifest, type BlobServiceExtras, type BlobServiceOptions, type PeerTransport } from '../../swarm/blobs/index.ts';
import { hasBit } from '../../swarm/blobs/bitfield.ts';
import { pieceLength, pieceRange } from '../../swarm/blobs/manifest.ts';
import type { ArtifactFile, TestServer, artifactDir } from './http-helpers.ts';
import { SeedFixture } from './seed-fixture.ts';
import { until } from '../helpers/until.ts';

const SITE = 'blobs';
const MiB = 1024 * 1024;
const PIECE = 256 * 1024;
let store: Store;
let http: TestServer;
let files: Awaited<ReturnType<typeof artifactDir>>;
let seed: SeedSwarm;
let seedBlobs: BlobService;
const fx = new SeedFixture(SITE, 'lpmos-blobs-seed');
const cleanups = fx.cleanups;
const keys = fx.keys;
let machines = 0;

const NAMES = ['abandon', 'capped-libp2p', 'lone', 'corrupt-libp2p', 'corrupt-http', 'vanish-libp2p', 'vanish-http', 'single', 'fallback', 'three-libp2p', 'three-http', 'rogue'];

before(async () => {
  ({ store, http, files, seed, seedBlobs } = await fx.start(Object.fromEntries(NAMES.map((n, i) => [`${n}.img`, 3 * MiB + 1000 * i + 17]))));
});

after(() => fx.stop());

// Agents of one test stop after it: every running agent re-announces every 300 ms, and gossip
// signatures of a growing crowd in one process would slow the later tests down.
afterEach(() => fx.endTest());


interface Agent {
  machine: string;
  swarm: AgentSwarm;
  blobs: BlobService;
  stop: () => Promise<void>;
}

type Tuned = Partial<Omit<BlobServiceOptions, 'http'>> & Omit<BlobServiceExtras, 'role' | 'logger' | 'tracker'>;
type AgentOpts = Tuned & { tracker?: string | false };
const fast: Tuned = { announceEveryMs: 300, discoverMs: 500, tuning: { pieceTimeoutMs: 5000, noSourceTimeoutMs: 10_000 } };

async function agent(opts: AgentOpts = {}): Promise<Agent> {
  const machine = `agent-${++machines}`;
  await addMachine(store, keys, { name: machine, macs: [`52:54:00:b1:00:${machines.toString(16).padStart(2, '0')}`] });
  const swarm = await AgentSwarm.start({ store, keys, site: SITE, machine, bootstrap: seed.bootstrapAddrs(), listen: ['/ip4/127.0.0.1/tcp/0'], blobs: { budget: 64 * MiB, http: { host: '127.0.0.1' }, ...fast, ...opts } });
  const blobs = swarm.blobs!;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await swarm.stop(0);
  };
  cleanups.push(stop);
  await until(`${machine} connected to the seed`, () => seed.swarm.node.isConnected(swarm.peerId));
  return { machine, swarm, blobs, stop };
}

function file(name: string): ArtifactFile & { path: string; url: string } {
  const f = files.files.get(`${name}.img`)!;
  return { ...f, path: join(files.dir, f.name), url: `${http.base}/artifacts/${f.name}` };
}

/** Bytes the seed's HTTP server sent for one artifact, from its access log. */
function seedBytes(name: string): number {
  return http.log.filter((l) => l.msg === 'http request' && l.path === `/artifacts/${name}.img`).reduce((n, l) => n + Number(l.bytes ?? 0), 0);
}

async function sha256Of(a: Agent, sha: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of a.blobs.store.read(sha)) h.update(c as Uint8Array);
  return h.digest('hex');
}

/** Until the fetcher knows n complete holders: it asks (the tracker — the seed) as a fetch would. */
async function holding(fetcher: Agent, m: BlobManifest, n: number): Promise<void> {
  await until(`${n} holders of ${m.sha256.slice(0, 8)} announced`, async () => (await fetcher.blobs.lookup(m.sha256), fetcher.blobs.holders(m.sha256).filter((h) => h.have.every((b, i) => b === (i === h.have.length - 1 && m.pieces.length % 8 ? (0xff << (8 - (m.pieces.length % 8))) & 0xff : 0xff))).length >= n), 10_000, 100);
}

for (const transport of ['libp2p', 'http'] as PeerTransport[]) {
test(`a peer that sends corrupt pieces is dropped for the blob; the fetch completes from the honest peer with the right sha256 (${transport})`, async () => {
  const f = file(`corrupt-${transport}`);
  const good = await agent();
  const bad = await agent();
  const m = await good.blobs.add(f.path, { pieceSize: PIECE });
  // The bad holder's memory flips a byte in every piece: it announces the blob complete and serves garbage.
  await bad.blobs.store.open(m);
  for (let i = 0; i < m.pieces.length; i++) {
    const r = pieceRange(m, i);
    const piece = Buffer.from(f.data.subarray(r.start, r.end));
    piece[0] = piece[0]! ^ 0xff;
    await bad.blobs.store.putPiece(m.sha256, i, piece);
  }
  const fetcher = await agent({ transport });
  await holding(fetcher, m, 2);
  const r = await fetcher.blobs.fetch(m); // no seed URL: the honest peer is the only source
  assert.equal(await sha256Of(fetcher, m.sha256), f.sha256);
  assert.deepEqual(r.dropped, [bad.swarm.peerId]);
  assert.deepEqual(r.peers, [good.swarm.peerId]);
  assert.equal(r.fromPeers, f.data.length);
  assert.equal(r.fromSeed, 0);
  assert.ok(fetcher.blobs.stats.badPieces >= 1, `bad pieces counted: ${fetcher.blobs.stats.badPieces}`);
  assert.equal(fetcher.blobs.stats.peersDropped, 1);
  assert.ok(bad.blobs.stats.piecesServed >= 1, 'the bad peer was asked');
  // It re-announces the blob (every 3 × 300 ms once unchanged; the tracker names it again): in the
  // index again, still not offered.
  await until('the bad peer re-announced the blob', async () => (await fetcher.blobs.lookup(m.sha256), fetcher.blobs.index.holders(m.sha256).some((h) => h.peerId === bad.swarm.peerId)), 5000, 100);
  assert.equal(fetcher.blobs.holders(m.sha256).some((h) => h.peerId === bad.swarm.peerId), false, 'forgotten as a holder of this blob');
});

test(`a holder that vanishes mid-transfer is replaced; the fetch completes (${transport})`, async () => {
  const f = file(`vanish-${transport}`);
  const a = await agent();
  const b = await agent();
  const m = await a.blobs.add(f.path, { pieceSize: PIECE });
  await b.blobs.add(f.path, { pieceSize: PIECE });
  const fetcher = await agent({ transport, tuning: { concurrency: 2, perHolder: 1, pieceTimeoutMs: 5000, noSourceTimeoutMs: 10_000 } });
  await holding(fetcher, m, 2);
  let stopping: Promise<void> | undefined;
  let atStop = 0;
  const r = await fetcher.blobs.fetch(m, {
    onProgress: (p) => {
      if (!stopping && p.bytes >= 2 * PIECE) {
        atStop = p.bytes;
        stopping = a.stop();
      }
    },
  });
  await stopping;
  assert.ok(atStop < f.data.length, 'stopped before the end');
  assert.equal(await sha256Of(fetcher, m.sha256), f.sha256);
  assert.equal(r.fromPeers, f.data.length);
  assert.ok(r.peers.includes(b.swarm.peerId));
  const fromA = a.blobs.stats.bytesServedToPeers;
  assert.ok(fromA < f.data.length, `the vanished holder sent ${fromA} of ${f.data.length} bytes`);
  assert.ok(b.blobs.stats.bytesServedToPeers >= f.data.length - fromA, 'the rest came from the other holder');
});
}

test('an unenrolled peer cannot connect to a holder nor fetch from it', async () => {
  const f = file('rogue');
  const holder = await agent();
  const m = await holder.blobs.add(f.path, { pieceSize: PIECE });
  // A node with the same software but no enrollment, told where the holder is.
  const rogue = await EnrolledSwarm.start({ store, keys, identity: 'memory', listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: seed.bootstrapAddrs(), redialMs: 200 });
  const blobs = new BlobService(rogue.node, { site: SITE, store: new MemoryPieceStore({ budget: 16 * MiB }), ...fast, tuning: { noSourceTimeoutMs: 1500 } });
  await blobs.start();
  cleanups.push(async () => {
    await blobs.stop();
    await rogue.stop();
  });
  // The holder drops it right after the noise handshake proves its id: no stream gets through.
  await assert.rejects(rogue.node.libp2p.services.ping.ping(multiaddr(holder.swarm.swarm.node.addrs()[0]!), { signal: AbortSignal.timeout(2000) }));
  blobs.index.update(holder.swarm.peerId, { addrs: holder.swarm.swarm.node.addrs() }, [{ sha256: m.sha256, pieces: m.pieces.length, have: 'all' }]);
  await assert.rejects(blobs.fetch(m), { code: 'E_UNAVAILABLE' });
  assert.equal(holder.blobs.stats.piecesServed, 0);
  assert.equal(holder.swarm.swarm.node.isConnected(rogue.node.peerId), false);
  assert.equal(seed.swarm.node.isConnected(rogue.node.peerId), false);
});

test('two concurrent fetches of one blob cause one download from the seed', async () => {
  const f = file('single');
  const m = await seedBlobs.add(f.path, { pieceSize: PIECE });
  const a = await agent();
  const before = seedBytes('single');
  const [r1, r2] = await Promise.all([a.blobs.fetch(m, { seedUrl: f.url }), a.blobs.fetch(m, { seedUrl: f.url })]);
  assert.equal(await sha256Of(a, m.sha256), f.sha256);
  assert.equal(a.blobs.stats.fetchesJoined, 1);
  assert.equal(r1.fromSeed, f.data.length);
  assert.equal(r2.fromSeed, f.data.length, 'the joined call reports the one download');
  assert.equal(a.blobs.stats.bytesFromSeed, f.data.length);
  await until('seed access log written', () => seedBytes('single') - before >= f.data.length);
  assert.equal(seedBytes('single') - before, f.data.length, 'the seed sent the file once');
  assert.equal(a.blobs.store.get(m.sha256)!.pinned, 2, 'each caller holds a pin');
  r1.unpin();
  r2.unpin();
  assert.equal(a.blobs.store.get(m.sha256)!.pinned, 0);
  // Held complete now: a third fetch costs nothing.
  const r3 = await a.blobs.fetch(m, { seedUrl: f.url, pin: false });
  assert.equal(r3.fromSeed + r3.fromPeers, 0);
});

test('with no peer holding it, a blob known by sha256 and size only comes from the seed (manifest from the seed node)', async () => {
  const f = file('fallback');
  const m = await seedBlobs.add(f.path, { pieceSize: PIECE });
  const a = await agent();
  const r = await a.blobs.fetch({ sha256: f.sha256, size: f.data.length }, { seedUrl: f.url });
  assert.deepEqual(r.manifest, m);
  assert.equal(r.fromSeed, f.data.length);
  assert.equal(r.fromPeers, 0);
  assert.equal(await sha256Of(a, f.sha256), f.sha256);
  // A file the seed node has no manifest for (an apt package): streamed whole, cut and checked here.
  const other = file('three-http');
  const b = await agent();
  const r2 = await b.blobs.fetch({ sha256: other.sha256, size: other.data.length }, { seedUrl: other.url });
  assert.equal(r2.fromSeed, other.data.length);
  assert.equal(await sha256Of(b, other.sha256), other.sha256);
  // A wrong hash for the file is refused, and nothing is kept.
  await assert.rejects(b.blobs.fetch({ sha256: 'e'.repeat(64), size: other.data.length }, { seedUrl: other.url }), { code: 'E_VALIDATION' });
  assert.equal(b.blobs.store.get('e'.repeat(64)), undefined);
  // The fetcher announced what it now holds: a newcomer sees it as a holder.
  const c = await agent();
  await holding(c, r.manifest, 1);
});

for (const transport of ['libp2p', 'http'] as PeerTransport[]) {
  test(`a fetch from three holders takes pieces from more than one (${transport})`, async () => {
    const f = file(`three-${transport}`);
    const holders = [await agent(), await agent(), await agent()];
    let m: BlobManifest | undefined;
    for (const h of holders) m = await h.blobs.add(f.path, { pieceSize: PIECE });
    const fetcher = await agent({ transport });
    await holding(fetcher, m!, 3);
    // The tracker (the seed) named all three; no libp2p connection is needed beforehand (pieces over
    // HTTP need none; over libp2p the fetcher dials the addresses the holder pushed).
    const before = seedBytes(`three-${transport}`);
    const r = await fetcher.blobs.fetch(m!, { seedUrl: f.url });
    assert.equal(await sha256Of(fetcher, m!.sha256), f.sha256);
    assert.equal(r.fromSeed, 0);
    assert.equal(seedBytes(`three-${transport}`), before);
    assert.ok(r.peers.length >= 2, `pieces from ${r.peers.length} holders`);
    const served = holders.map((h) => h.blobs.stats.bytesServedToPeers);
    assert.equal(
      served.reduce((a, b) => a + b, 0),
      f.data.length,
    );
    assert.ok(served.filter((b) => b > 0).length >= 2, `served: ${served.join(', ')}`);
  });
}

test('when the only holder vanishes mid-transfer, the rest comes from the seed', async () => {
  const f = file('lone');
  const a = await agent();
  const m = await a.blobs.add(f.path, { pieceSize: PIECE });
  const fetcher = await agent({ tuning: { concurrency: 2, perHolder: 1, pieceTimeoutMs: 5000 } });
  await holding(fetcher, m, 1);
  let stopping: Promise<void> | undefined;
  const r = await fetcher.blobs.fetch(m, {
    seedUrl: f.url,
    onProgress: (p) => {
      if (!stopping && p.bytes >= 2 * PIECE) stopping = a.stop();
    },
  });
  await stopping;
  assert.equal(await sha256Of(fetcher, m.sha256), f.sha256);
  assert.ok(r.fromPeers >= 2 * PIECE && r.fromSeed > 0, `from peers ${r.fromPeers}, from the seed ${r.fromSeed}`);
  assert.equal(r.fromPeers + r.fromSeed, f.data.length);
});

// Over libp2p only: yamux's window keeps an upload in flight until the requester reads it, so
// concurrent requests meet the cap. The HTTP server hands a piece held in memory to the loopback
// socket's buffer at once, so there its cap only bites when sockets back up (real links).
for (const transport of ['libp2p'] as PeerTransport[]) {
  test(`a holder's upload cap refuses requests beyond it; the fetch waits and completes (${transport})`, async () => {
    const f = file(`capped-${transport}`);
    const holder = await agent({ uploads: { perPeer: 1, total: 1 } });
    const m = await holder.blobs.add(f.path, { pieceSize: PIECE });
    const fetcher = await agent({ transport, tuning: { concurrency: 6, perHolder: 6 } });
    await holding(fetcher, m, 1);
    const r = await fetcher.blobs.fetch(m);
    assert.equal(await sha256Of(fetcher, m.sha256), f.sha256);
    assert.equal(r.fromPeers, f.data.length);
    assert.ok(holder.blobs.stats.uploadsRefused > 0, 'requests over the cap were refused');
    assert.equal(holder.blobs.stats.piecesServed, m.pieces.length);
  });
}

for (const mode of ['tracker', 'gossip'] as const) {
test(`fetches started together share one query: to the tracker, or one have? per peer without it (an apt run asks for many packages at once) (${mode})`, async () => {
  const opts = mode === 'gossip' ? { tracker: false as const } : {};
  const holder = await agent(opts);
  const dir = mkdtempSync(join(tmpdir(), `lpmos-blobs-small-${process.pid}-`));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const manifests: BlobManifest[] = [];
  for (let i = 0; i < 20; i++) {
    writeFileSync(join(dir, `p${i}.deb`), randomBytes(20_000 + i));
    manifests.push(await holder.blobs.add(join(dir, `p${i}.deb`)));
  }
  const fetcher = await agent(opts);
  if (mode === 'tracker') await until('the tracker indexes all 20', () => manifests.every((m) => seedBlobs.holders(m.sha256).length === 1));
  // Without a tracker: connected to the holder (as the mesh keeper would be): the batch asks it directly.
  else await fetcher.swarm.swarm.node.dial(holder.swarm.swarm.node.addrs()[0]!);
  const peers = fetcher.swarm.swarm.node.libp2p.getPeers().length;
  const rs = await Promise.all(manifests.map((m) => fetcher.blobs.fetch(m)));
  for (const r of rs) assert.equal(r.fromPeers, r.manifest.size);
  assert.equal(fetcher.blobs.discovery.stats.batches, 1, 'one batch for the 20 fetches');
  if (mode === 'tracker') {
    assert.equal(fetcher.blobs.discovery.stats.queries, 1, 'one holders? to the tracker');
    assert.equal(fetcher.blobs.tracker.answers, 1);
  } else assert.equal(fetcher.blobs.discovery.stats.queries, peers, 'one have? per connected peer');
  assert.equal(fetcher.blobs.stats.piecesFromPeers, 20);
});
}

test('a holder whose enrollment is deleted is forgotten at once by the seed and the agents', async () => {
  const f = file('rogue');
  const holder = await agent();
  const m = await holder.blobs.add(f.path, { pieceSize: PIECE });
  const fetcher = await agent();
  await holding(fetcher, m, 1);
  await until('the seed indexes the holder', () => seed.blobs!.holders(m.sha256).some((h) => h.peerId === holder.swarm.peerId));
  await unenrollMachine(store, keys, holder.machine);
  await until('forgotten by the agent', () => !fetcher.blobs.holders(m.sha256).some((h) => h.peerId === holder.swarm.peerId));
  await until('forgotten by the seed', () => !seed.blobs!.holders(m.sha256).some((h) => h.peerId === holder.swarm.peerId));
  await sleep(700); // it keeps announcing every 300 ms: none of it counts now
  assert.equal(fetcher.blobs.holders(m.sha256).length, 0);
  await assert.rejects(fetcher.blobs.fetch(m, { signal: AbortSignal.timeout(1500) }));
});

test('a caller that gives up does not stop a shared fetch; when every caller gave up, the download stops', async () => {
  const f = file('abandon');
  const m = await seedBlobs.add(f.path, { pieceSize: PIECE });
  const a = await agent();
  const quitter = new AbortController();
  const first = a.blobs.fetch(m, { seedUrl: f.url, signal: quitter.signal });
  const second = a.blobs.fetch(m, { seedUrl: f.url });
  quitter.abort();
  await assert.rejects(first);
  const r = await second;
  assert.equal(r.fromSeed, f.data.length);
  assert.equal(await sha256Of(a, m.sha256), f.sha256);
  // Alone and abandoned: the download stops and keeps what it had; a new fetch completes it.
  const b = await agent();
  const alone = new AbortController();
  const p = b.blobs.fetch(m, { seedUrl: f.url, signal: alone.signal, onProgress: () => alone.abort() });
  await assert.rejects(p);
  await sleep(300);
  const had = b.blobs.store.get(m.sha256)?.count ?? 0;
  assert.ok(had < m.pieces.length, `stopped with ${had} of ${m.pieces.length} pieces`);
  await sleep(300);
  assert.equal(b.blobs.store.get(m.sha256)?.count ?? 0, had, 'nothing more arrives');
  const st = b.blobs.store.get(m.sha256);
  let missing = 0;
  for (let i = 0; i < m.pieces.length; i++) if (!st || !hasBit(st.have, i)) missing += pieceLength(m, i);
  const again = await b.blobs.fetch(m, { seedUrl: f.url });
  assert.equal(again.fromSeed + again.fromPeers, missing, 'only the missing pieces (from a, which holds it, or the seed)');
  assert.equal(await sha256Of(b, m.sha256), f.sha256);
});
