// The benchmark's seed, run in its own network namespace: a real etcd reachable from the agents'
// namespaces, the seed's swarm node with its blob exchange holding every file of the set (its
// manifests are what agents fetch by), and an HTTP server for the files with Range (the agents'
// seed fallback in the swarm run, their only source in the plain HTTP run). Config: env
// BENCH_SWARM_SEED = { ip, setDir, stateDir, site }.
import { readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import sendFile from 'send';
import { Keys } from '../../core/keys.ts';
import { openStore } from '../../store/connect.ts';
import { EtcdProcess } from '../../store/etcd-process.ts';
import { SeedSwarm } from '../../swarm/seed-swarm.ts';
import { commands, cpuMicros, send } from './lines.ts';
import { cpuMark, cpuSince, startProfile, stopProfile } from './profile.ts';
import type { SetFile } from './proto.ts';

interface SeedConfig {
  ip: string;
  setDir: string;
  stateDir: string;
  site: string;
  /** Granted seed pieces in flight at most (BENCH_SEED_GRANTS; default the tracker's). */
  maxSeedGrants?: number;
  /** Piece size of the set's manifests (BENCH_PIECE_KIB; default the blob exchange's 1 MiB). */
  pieceSize?: number;
}

const cfg = JSON.parse(process.env.BENCH_SWARM_SEED ?? '') as SeedConfig;
const mark = cpuMark();
const etcdUrl = `http://${cfg.ip}:2379`;
const etcd = new EtcdProcess({
  name: 'bench',
  dataDir: join(cfg.stateDir, 'etcd'),
  listenClientUrls: [etcdUrl],
  peerUrl: 'http://127.0.0.1:2380',
  logFile: join(cfg.stateDir, 'etcd.log'),
});
await etcd.waitHealthy(20_000);
const store = await openStore({ endpoints: [etcdUrl] });
const keys = new Keys('/lpmos/', cfg.site);
const seed = await SeedSwarm.start({ store, keys, site: cfg.site, stateDir: cfg.stateDir, listen: [`/ip4/${cfg.ip}/tcp/4001`], blobs: { dir: join(cfg.stateDir, 'blobs'), ...(cfg.maxSeedGrants ? { maxSeedGrants: cfg.maxSeedGrants } : {}) } });

const set: SetFile[] = [];
for (const name of readdirSync(cfg.setDir).sort()) {
  const manifest = await seed.blobs!.add(join(cfg.setDir, name), { pin: true, ...(cfg.pieceSize ? { pieceSize: cfg.pieceSize } : {}) });
  set.push({ name, size: manifest.size, sha256: manifest.sha256, manifest });
}
const setJson = JSON.stringify(set);

// Bytes written to every socket the server ever had (headers included): closed ones summed, open ones read live.
const open = new Set<Socket>();
let closedBytes = 0;
const server: Server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://seed');
  if (url.pathname === '/set.json') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(setJson) });
    res.end(setJson);
    return;
  }
  const m = /^\/files\/([^/]+)$/.exec(url.pathname);
  if (!m) {
    res.writeHead(404).end();
    return;
  }
  sendFile(req, `/${m[1]!}`, { root: cfg.setDir, cacheControl: false, etag: false, lastModified: false })
    .on('error', (e: { status?: number }) => res.writeHead(e.status ?? 500).end())
    .pipe(res);
});
server.on('connection', (s) => {
  open.add(s);
  s.once('close', () => {
    open.delete(s);
    closedBytes += s.bytesWritten;
  });
});
server.keepAliveTimeout = 60_000;
await new Promise<void>((resolve) => server.listen(80, cfg.ip, resolve));

const httpBytes = (): number => closedBytes + [...open].reduce((n, s) => n + s.bytesWritten, 0);

send({ type: 'seed-ready', etcd: [etcdUrl], http: `http://${cfg.ip}`, bootstrap: seed.bootstrapAddrs(), files: set.length, bytes: set.reduce((n, f) => n + f.size, 0) });

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections();
  server.close();
  await seed.stop().catch(() => undefined);
  await store.close().catch(() => undefined);
  await etcd.stop(2000).catch(() => undefined);
  process.exit(0);
}

commands((c) => {
  if (c.type === 'stats') send({ type: 'seed-stats', httpBytes: httpBytes(), bytesServedToPeers: seed.blobs!.stats.bytesServedToPeers, tracker: { ...seed.blobs!.tracker }, cpuMicros: cpuMicros(), split: cpuSince(mark) });
  else if (c.type === 'profile-start') void startProfile();
  else if (c.type === 'profile-stop') void stopProfile(c.path);
  else if (c.type === 'stop') void stop();
}, () => void stop());
process.once('SIGTERM', () => void stop());
