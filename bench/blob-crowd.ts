// `node bench/blob-crowd.ts`: N agents and the seed in ONE process on loopback (real etcd, the seed's
// real HTTP artifact route) all fetch one blob at once; prints time, seed egress (from the seed's
// access log) as a multiple of the blob, bytes from peers, and the agents' counters. A quick check
// of the cold-start logic (claims, rarest first) — not a capacity benchmark: one process is one
// core, and links are not shaped (that is `npm run bench:swarm`).
//
// Env: N (default 12), MIB (default 32).
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Keys } from '../core/keys.ts';
import { addMachine } from '../core/registry/machines.ts';
import { openStore } from '../store/connect.ts';
import { AgentSwarm } from '../swarm/agent-swarm.ts';
import { SeedSwarm } from '../swarm/seed-swarm.ts';
import { TestEtcd } from '../test/helpers/etcd.ts';
import { artifactDir, testServer } from '../test/component/http-helpers.ts';
const N = Number(process.env.N ?? 12);
const MiB = 1024 * 1024;
const SIZE = Number(process.env.MIB ?? 32) * MiB;
const keys = new Keys('/lpmos/', 'crowd');
const etcd = await TestEtcd.start();
const store = await openStore({ endpoints: etcd.endpoints });
const files = await artifactDir({ 'big.img': SIZE });
const http = await testServer(store, { artifacts: [files.dir] }, { site: 'crowd', etcd: etcd.endpoints });
const stateDir = mkdtempSync(join(tmpdir(), `lpmos-blob-crowd-${process.pid}-`));
const seed = await SeedSwarm.start({ store, keys, site: 'crowd', stateDir, listen: ['/ip4/127.0.0.1/tcp/0'], blobs: { dir: join(stateDir, 'b') } });
const m = await seed.blobs!.add(join(files.dir, 'big.img'));
const agents: AgentSwarm[] = [];
for (let i = 0; i < N; i++) {
  await addMachine(store, keys, { name: `a${i}`, macs: [`52:54:00:cc:00:${i.toString(16).padStart(2, '0')}`] });
  agents.push(await AgentSwarm.start({ store, keys, site: 'crowd', machine: `a${i}`, bootstrap: seed.bootstrapAddrs(), listen: ['/ip4/127.0.0.1/tcp/0'], blobs: { budget: 2 * SIZE, http: { host: '127.0.0.1' } } }));
}
await new Promise((r) => setTimeout(r, 3000));
const t0 = performance.now();
const rs = await Promise.all(agents.map((a) => a.blobs!.fetch(m, { seedUrl: `${http.base}/artifacts/big.img` })));
const s = (performance.now() - t0) / 1000;
await new Promise((r) => setTimeout(r, 300));
const seedBytes = http.log.filter((l) => l.path === '/artifacts/big.img').reduce((n, l) => n + Number(l.bytes ?? 0), 0);
console.log(`N=${N} ${SIZE / MiB} MiB: ${s.toFixed(1)} s, seed egress ${(seedBytes / SIZE).toFixed(2)}x, from seed ${rs.reduce((n, r) => n + r.fromSeed, 0) / SIZE}x, from peers ${(rs.reduce((n, r) => n + r.fromPeers, 0) / SIZE).toFixed(2)}x, connections/agent ${(agents.reduce((n, a) => n + a.swarm.node.libp2p.getConnections().length, 0) / N).toFixed(1)}`);
const st = agents.map((a) => a.blobs!.stats);
console.log('uploads refused', st.reduce((n, x) => n + x.uploadsRefused, 0), 'bad', st.reduce((n, x) => n + x.badPieces, 0), 'seedPieces', st.reduce((n, x) => n + x.piecesFromSeed, 0), 'peerPieces', st.reduce((n, x) => n + x.piecesFromPeers, 0), 'dropped', st.reduce((n, x) => n + x.peersDropped, 0));
for (const a of agents) await a.stop(0);
await seed.stop();
await http.stop();
await files.cleanup();
await store.close();
await etcd.stop();
rmSync(stateDir, { recursive: true, force: true });
