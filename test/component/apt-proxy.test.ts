// The agent's apt proxy with everything real on loopback: a small fake Debian archive (Packages with
// real SHA256s, gzip and xz, an InRelease listing them) behind the seed's real pull-through mirror and
// HTTP server, a real etcd, the seed's swarm node and agents as gated libp2p nodes with their blob
// exchanges. Index files pass through byte for byte with one upstream fetch for concurrent requests;
// two concurrent requests for one .deb cause one fetch; a .deb one agent holds is served to another
// from that peer; a peer that corrupts pieces does not corrupt the file; metrics reach etcd, the
// seed's /metrics and `lpmos machine show -o json`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, afterEach, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { AptProxy } from '../../agent/apt-proxy.ts';
import { MetricsWriter } from '../../agent/metrics-writer.ts';
import { Keys } from '../../core/keys.ts';
import { createLogger, silentLogger } from '../../core/log.ts';
import { addMachine } from '../../core/registry/machines.ts';
import type { Store } from '../../core/store/store.ts';
import { renderSeedBlobStats } from '../../seed/blobs-metrics.ts';
import { startHttp, type HttpServer } from '../../seed/http/server.ts';
import { SwarmMirrorCache } from '../../seed/blobs-mirror.ts';
import { openStore } from '../../store/connect.ts';
import { AgentSwarm } from '../../swarm/agent-swarm.ts';
import { DEFAULT_PIECE_SIZE } from '../../swarm/blobs/api.ts';
import { manifestOf, pieceRange } from '../../swarm/blobs/manifest.ts';
import type { BlobService } from '../../swarm/blobs/service.ts';
import { decodeSwarmMetrics } from '../../swarm/metrics-record.ts';
import { SeedSwarm } from '../../swarm/seed-swarm.ts';
import { lpmos } from '../helpers/cli.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { until } from '../helpers/until.ts';

const SITE = 'aptproxy';
const keys = new Keys('/lpmos/', SITE);
const MiB = 1024 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

// The fake archive: package files of several sizes (1 to 3 pieces of 1 MiB), and one file in pool/
// that the index does not name.
const DEBS = ['pair', 'peer', 'corrupt', 'xzonly', 'range', 'metrics', 'big'].map((n, i) => ({ name: n, path: `pool/main/${n[0]}/${n}/${n}_1.${i}_amd64.deb`, data: randomBytes(n === 'corrupt' ? 2 * MiB + 12_345 : n === 'big' ? 3 * MiB + 777 : 300_000 + i * 1000) }));
const deb = (n: string): (typeof DEBS)[number] => DEBS.find((d) => d.name === n)!;
const UNINDEXED = { path: 'pool/main/u/unindexed/unindexed_1_all.deb', data: randomBytes(50_000) };
const PACKAGES = DEBS.map((d) => `Package: ${d.name}\nVersion: 1\nArchitecture: amd64\nDescription: test package ${d.name}\n multi-line description\nFilename: ${d.path}\nSize: ${d.data.length}\nSHA256: ${sha(d.data)}\n`).join('\n');
const FILES = new Map<string, Buffer>();
FILES.set('dists/bookworm/main/binary-amd64/Packages', Buffer.from(PACKAGES));
FILES.set('dists/bookworm/main/binary-amd64/Packages.gz', gzipSync(PACKAGES));
FILES.set('dists/bookworm/main/binary-amd64/Packages.xz', execFileSync('xz', ['-c', '--check=crc32'], { input: PACKAGES }));
const releaseLines = [...FILES].map(([p, b]) => ` ${sha(b)} ${String(b.length).padStart(8)} ${p.replace('dists/bookworm/', '')}`);
const RELEASE = `Origin: Test\nSuite: stable\nCodename: bookworm\nArchitectures: amd64\nComponents: main\nAcquire-By-Hash: yes\nSHA256:\n${releaseLines.join('\n')}\n`;
FILES.set('dists/bookworm/Release', Buffer.from(RELEASE));
FILES.set('dists/bookworm/InRelease', Buffer.from(`-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n${RELEASE}-----BEGIN PGP SIGNATURE-----\n\nnot a real signature\n-----END PGP SIGNATURE-----\n`));
const xz = FILES.get('dists/bookworm/main/binary-amd64/Packages.xz')!;
FILES.set(`dists/bookworm/main/binary-amd64/by-hash/SHA256/${sha(xz)}`, xz);
for (const d of DEBS) FILES.set(d.path, d.data);
FILES.set(UNINDEXED.path, UNINDEXED.data);

let etcd: TestEtcd;
let store: Store;
let upstream: Server;
const upstreamHits = new Map<string, number>();
let http: HttpServer;
let seedBase: string;
const httpLog: Record<string, unknown>[] = [];
let seed: SeedSwarm;
let mirror: SwarmMirrorCache;
const dir = mkdtempSync(join(tmpdir(), `lpmos-apt-proxy-${process.pid}-`));
const cleanups: (() => Promise<unknown>)[] = [];
let machines = 0;

before(async () => {
  etcd = await TestEtcd.start();
  store = await openStore({ endpoints: etcd.endpoints });
  upstream = createServer((req, res) => {
    const p = (req.url ?? '').replace(/^\/debian\//, '');
    upstreamHits.set(p, (upstreamHits.get(p) ?? 0) + 1);
    const body = FILES.get(p);
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  seed = await SeedSwarm.start({ store, keys, site: SITE, stateDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], blobs: { dir: join(dir, 'blobs') } });
  const seedBlobs = seed.blobs!;
  // As seed.ts wires it: big package files the mirror serves become blobs the seed can describe.
  mirror = new SwarmMirrorCache({ dir: join(dir, 'mirror'), upstreams: { debian: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/debian` }, logger: silentLogger() }, seedBlobs);
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) httpLog.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  http = await startHttp({ port: 0, address: '127.0.0.1' }, { logger: createLogger({ format: 'json', level: 'info', destination }), store, keys, site: SITE, prefix: '/lpmos/', etcdEndpoints: etcd.endpoints, mirror });
  seedBase = `http://127.0.0.1:${http.port}`;
  http.metrics.collectors.push(() => renderSeedBlobStats(seedBlobs.stats));
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await seed?.stop().catch(() => undefined);
  await http?.stop().catch(() => undefined);
  upstream?.closeAllConnections();
  upstream?.close();
  await store?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});


interface Agent {
  machine: string;
  swarm: AgentSwarm;
  blobs: BlobService;
  proxy: AptProxy;
}

async function agent(): Promise<Agent> {
  const machine = `apt-agent-${++machines}`;
  await addMachine(store, keys, { name: machine, macs: [`52:54:00:a7:00:${machines.toString(16).padStart(2, '0')}`] });
  const swarm = await AgentSwarm.start({
    store, keys, site: SITE, machine, bootstrap: seed.bootstrapAddrs(), listen: ['/ip4/127.0.0.1/tcp/0'],
    blobs: { budget: 64 * MiB, http: { host: '127.0.0.1' }, announceEveryMs: 300, discoverMs: 500, tuning: { pieceTimeoutMs: 2000, noSourceTimeoutMs: 3000 } },
  });
  cleanups.push(() => swarm.stop(0));
  const proxy = new AptProxy({ seedUrl: seedBase, exchange: swarm.blobs!, indexWaitMs: 10_000 });
  await proxy.start();
  cleanups.push(() => proxy.stop());
  await until(`${machine} connected to the seed`, () => seed.swarm.node.isConnected(swarm.peerId));
  return { machine, swarm, blobs: swarm.blobs!, proxy };
}

interface Got { status: number; body: Buffer; headers: Record<string, string | string[] | undefined> }

/** GET through the proxy: origin-form (debootstrap's mirror) or absolute-form (apt's HTTP proxy). */
function get(a: Agent, path: string, opts: { absolute?: string; headers?: Record<string, string> } = {}): Promise<Got> {
  const port = new URL(a.proxy.url).port;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: opts.absolute ?? `/mirror/debian/${path}`, headers: opts.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Requests the seed's HTTP server answered for one mirror path. */
function seedRequests(path: string): Record<string, unknown>[] {
  return httpLog.filter((l) => l.msg === 'http request' && l.path === `/mirror/debian/${path}`);
}

/** The index passes through the proxy as debootstrap fetches it: InRelease, then Packages.xz. */
async function readIndex(a: Agent): Promise<void> {
  assert.equal((await get(a, 'dists/bookworm/InRelease')).status, 200);
  assert.equal((await get(a, 'dists/bookworm/main/binary-amd64/Packages.xz')).status, 200);
  await until('the package index loaded (from Packages.gz)', () => a.proxy.index.size === DEBS.length);
}

test('index files arrive byte for byte (mirror and proxy form); concurrent requests share one fetch; what the Release names comes through the exchange', async () => {
  const a = await agent();
  // Before its Release passed, an index file is passed through (one upstream fetch for all at once).
  const early = 'dists/bookworm/main/binary-amd64/Packages';
  const paths = [early, 'dists/bookworm/InRelease', 'dists/bookworm/Release', 'dists/bookworm/main/binary-amd64/Packages.gz', 'dists/bookworm/main/binary-amd64/Packages.xz', `dists/bookworm/main/binary-amd64/by-hash/SHA256/${sha(xz)}`];
  for (const p of paths) {
    const before = a.proxy.indexFetches;
    const seedBefore = seedRequests(p).length;
    const got = await Promise.all([get(a, p), get(a, p), get(a, p, { absolute: `${seedBase}/mirror/debian/${p}` })]);
    for (const g of got) {
      assert.equal(g.status, 200, p);
      assert.ok(g.body.equals(FILES.get(p)!), `${p}: the bytes the archive has`);
    }
    const viaSwarm = p !== early && !p.endsWith('Release');
    assert.equal(a.proxy.indexFetches - before, viaSwarm ? 0 : 1, `${p}: one shared upstream fetch, or the exchange`);
    assert.ok(seedRequests(p).length - seedBefore <= 1, `${p}: at most one request to the seed for three concurrent ones`);
    if (viaSwarm) assert.equal(got[0]!.headers['x-lpmos-sha256'], sha(FILES.get(p)!), `${p}: through the exchange`);
  }
  // The by-hash file is the blob Packages.xz already is: the seed was not asked for it at all.
  assert.equal(seedRequests(`dists/bookworm/main/binary-amd64/by-hash/SHA256/${sha(xz)}`).length, 0);
  assert.equal(a.proxy.counters.indexFilesFromSwarm, 9);
  // A conditional request is passed on as it is (apt revalidating): the seed answers it.
  const lm = (await get(a, 'dists/bookworm/InRelease')).headers['last-modified'] as string;
  assert.ok(lm, 'Last-Modified passed on');
  assert.equal((await get(a, 'dists/bookworm/InRelease', { headers: { 'if-modified-since': lm } })).status, 304);
  // Missing files stay missing; other origins and non-mirror paths are refused.
  assert.equal((await get(a, 'dists/bookworm/main/binary-amd64/Packages.bz2')).status, 404);
  assert.equal((await get(a, '', { absolute: 'http://example.invalid/mirror/debian/dists/bookworm/InRelease' })).status, 403);
  assert.equal((await get(a, '', { absolute: '/etc/passwd' })).status, 404);
  assert.equal((await get(a, '', { absolute: '/mirror/debian/pool/%E0%A4%A.deb' })).status, 400);
  assert.equal((await get(a, '', { absolute: '/mirror/debian/../../etc/passwd' })).status, 404);
  await until('the package index loaded', () => a.proxy.index.size === DEBS.length);
});

test('two concurrent requests for one .deb cause one fetch; a file the index does not name is passed through', async () => {
  const a = await agent();
  await readIndex(a);
  const d = deb('pair');
  const [x, y] = await Promise.all([get(a, d.path), get(a, d.path)]);
  for (const g of [x, y]) {
    assert.equal(g.status, 200);
    assert.equal(sha(g.body), sha(d.data));
    assert.equal(g.headers['x-lpmos-sha256'], sha(d.data), 'served by the blob exchange');
  }
  assert.equal(seedRequests(d.path).length, 1, 'one request to the seed for the package');
  assert.equal(upstreamHits.get(d.path), 1);
  assert.equal(a.blobs.stats.fetchesJoined, 1, 'the second request joined the first fetch');
  assert.equal(a.proxy.counters.packagesFromSwarm, 2);
  const u = await get(a, UNINDEXED.path);
  assert.equal(u.status, 200);
  assert.ok(u.body.equals(UNINDEXED.data));
  assert.equal(u.headers['x-lpmos-sha256'], sha(UNINDEXED.data), 'the seed mirror\'s header, passed through');
  assert.equal(a.proxy.counters.packagesFromSwarm, 2, 'not through the exchange');
});

test('a .deb one agent holds is served to another from that peer, not the seed', async () => {
  const d = deb('peer');
  const a = await agent();
  await readIndex(a);
  assert.equal(sha((await get(a, d.path)).body), sha(d.data));
  const b = await agent();
  await readIndex(b);
  // b asks the tracker (the seed) as its fetch would: announcements go to the seed, not to every agent.
  await until('b knows a holds the package', async () => (await b.blobs.lookup(sha(d.data)), b.blobs.holders(sha(d.data)).some((h) => h.peerId === a.swarm.peerId)));
  const before = { ...b.blobs.stats };
  const served = a.blobs.stats.bytesServedToPeers;
  const got = await get(b, d.path);
  assert.equal(got.status, 200);
  assert.ok(got.body.equals(d.data));
  assert.equal(b.blobs.stats.bytesFromPeers - before.bytesFromPeers, d.data.length, 'the package from the peer');
  assert.equal(b.blobs.stats.bytesFromSeed - before.bytesFromSeed, 0, 'nothing of it from the seed');
  assert.equal(a.blobs.stats.bytesServedToPeers - served, d.data.length);
  assert.equal(seedRequests(d.path).length, 1, 'the seed sent the package once, to the first agent');
});

test('a peer that serves corrupt pieces does not corrupt the file: it is dropped and the seed fills in', async () => {
  const d = deb('corrupt');
  const m = manifestOf(d.data, DEFAULT_PIECE_SIZE);
  assert.equal(m.pieces.length, 3);
  const bad = await agent();
  // Its memory flips a byte in every piece: it announces the package complete and serves garbage.
  await bad.blobs.store.open(m);
  for (let i = 0; i < m.pieces.length; i++) {
    const r = pieceRange(m, i);
    const piece = Buffer.from(d.data.subarray(r.start, r.end));
    piece[0] = piece[0]! ^ 0xff;
    await bad.blobs.store.putPiece(m.sha256, i, piece);
  }
  bad.blobs.announcer.announceAll();
  const c = await agent();
  await readIndex(c);
  await until('c knows the bad holder', async () => (await c.blobs.lookup(m.sha256), c.blobs.holders(m.sha256).length > 0));
  const fromSeed = c.blobs.stats.bytesFromSeed;
  const got = await get(c, d.path);
  assert.equal(got.status, 200);
  assert.equal(sha(got.body), sha(d.data), 'the right bytes');
  assert.ok(c.blobs.stats.badPieces >= 1, `bad pieces counted: ${c.blobs.stats.badPieces}`);
  assert.equal(c.blobs.stats.peersDropped, 1);
  assert.equal(c.blobs.stats.bytesFromSeed - fromSeed, d.data.length, 'every piece from the seed in the end');
  assert.ok(seedRequests(d.path).every((l) => typeof l.range === 'string'), 'the seed served pieces by Range');
});

test('a big package the seed\'s mirror holds: the seed describes it, the agent fetches it piece by piece by Range', async () => {
  const d = deb('big');
  // The seed's cache gets it (as a first install would have), and with it a blob the seed can describe.
  const warm = await fetch(`${seedBase}/mirror/debian/${d.path}`);
  assert.ok(Buffer.from(await warm.arrayBuffer()).equals(d.data));
  await mirror.settled();
  assert.equal(seed.blobs!.store.get(sha(d.data))?.manifest.pieces.length, 4, 'a blob of 4 pieces in the seed\'s store');
  assert.ok(mirror.added >= 1);
  assert.ok(seed.blobs!.store.list().every((b) => b.manifest.size >= 2 * MiB), 'only big files: small ones and index files are not added');
  const a = await agent();
  await readIndex(a);
  const fromSeed = { ...a.blobs.stats };
  const got = await get(a, d.path);
  assert.ok(got.body.equals(d.data));
  assert.equal(a.blobs.stats.piecesFromSeed - fromSeed.piecesFromSeed, 4, 'four pieces from the seed');
  const ranged = seedRequests(d.path).slice(1);
  assert.equal(ranged.length, 4);
  assert.ok(ranged.every((l) => typeof l.range === 'string' && l.status === 206), 'each by Range');
});

test('Packages.xz only (debootstrap): the index is learned from Packages.gz through the exchange; Range requests are served', async () => {
  const a = await agent();
  await readIndex(a);
  const d = deb('xzonly');
  const got = await get(a, d.path);
  assert.ok(got.body.equals(d.data));
  assert.equal(got.headers['x-lpmos-sha256'], sha(d.data));
  const gz = FILES.get('dists/bookworm/main/binary-amd64/Packages.gz')!;
  assert.ok(a.blobs.store.get(sha(gz))?.complete, 'Packages.gz is a blob in the agent\'s store (others can fetch it from here)');
  const r = deb('range');
  const part = await get(a, r.path, { headers: { range: 'bytes=1000-' } });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 1000-${r.data.length - 1}/${r.data.length}`);
  assert.ok(part.body.equals(r.data.subarray(1000)));
});

test('metrics: written to etcd, on the seed\'s /metrics, and shown by `lpmos machine show -o json`', async () => {
  const a = await agent();
  const writer = new MetricsWriter({ store, keys, machine: a.machine, peerId: a.swarm.peerId, blobs: () => a.blobs.stats, proxy: () => a.proxy.counters, everyMs: 200 });
  writer.start();
  cleanups.push(() => writer.stop());
  await readIndex(a);
  const d = deb('metrics');
  assert.ok((await get(a, d.path)).body.equals(d.data));
  await writer.flush();
  const kv = await store.get(keys.swarmMetrics(a.machine));
  const rec = decodeSwarmMetrics(kv!.value)!;
  assert.equal(rec.machine, a.machine);
  assert.equal(rec.peerId, a.swarm.peerId);
  assert.equal(rec.blobs.bytesFromSeed, a.blobs.stats.bytesFromSeed);
  assert.ok(rec.blobs.bytesFromSeed + rec.blobs.bytesFromPeers >= d.data.length, 'the package\'s bytes are counted');
  assert.equal(rec.bytesFromSeed, a.blobs.stats.bytesFromSeed + a.proxy.counters.passThroughBytes, 'index bytes passed through count as from the seed');
  assert.ok(rec.proxy!.passThroughBytes > 0);
  // Unchanged counters are not rewritten.
  const writes = writer.writes;
  await writer.flush();
  assert.equal(writer.writes, writes);

  const shown = await lpmos(['--etcd', etcd.endpoints.join(','), '--site', SITE, 'machine', 'show', a.machine, '-o', 'json']);
  assert.equal(shown.code, 0, shown.stderr);
  const doc = JSON.parse(shown.stdout) as { name: string; swarm?: { bytesFromSeed: number; bytesFromPeers: number; bytesServedToPeers: number } };
  assert.equal(doc.name, a.machine);
  assert.deepEqual({ ...doc.swarm }, { ...rec });
  const yaml = await lpmos(['--etcd', etcd.endpoints.join(','), '--site', SITE, 'machine', 'show', a.machine]);
  assert.match(yaml.stdout, /^swarm:\n(?:\s+.*\n)*?\s+bytesFromSeed: \d+/m);

  const text = await (await fetch(`${seedBase}/metrics`)).text();
  assert.match(text, new RegExp(`^lpmos_machine_swarm_bytes\\{machine="${a.machine}",kind="from_seed"\\} ${rec.bytesFromSeed}$`, 'm'));
  assert.match(text, new RegExp(`^lpmos_machine_swarm_bytes\\{machine="${a.machine}",kind="from_peers"\\} ${rec.bytesFromPeers}$`, 'm'));
  assert.match(text, /^lpmos_seed_blob_bytes_total\{kind="served_to_peers"\} 0$/m);
  assert.match(text, /^lpmos_http_requests_total\{route="mirror",status="200"\} \d+$/m);
});
