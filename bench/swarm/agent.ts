// One benchmark agent, run in its own network namespace. `swarm`: a gated libp2p node enrolled in
// etcd with a blob exchange (pieces in memory, served to peers over HTTP) that fetches every file
// of the set by the seed's manifests, the seed's HTTP as fallback; it keeps serving after it is
// done until told to stop. `http`: every file straight from the seed over plain HTTP (Node fetch),
// each checked by sha256. Config: env BENCH_SWARM_AGENT (AgentConfig).
import { createHash } from 'node:crypto';
import { openSync } from 'node:fs';
import { pino } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { Keys } from '../../core/keys.ts';
import { createLogger } from '../../core/log.ts';
import { addMachine } from '../../core/registry/machines.ts';
import type { Store } from '../../core/store/store.ts';
import { openStore } from '../../store/connect.ts';
import { AgentSwarm } from '../../swarm/agent-swarm.ts';
import { httpClientStats } from '../../swarm/blobs/http-client.ts';
import { rangeStats } from '../../swarm/blobs/range-client.ts';
import type { DownloadTuning } from '../../swarm/blobs/download.ts';
import { commands, cpuMicros, send } from './lines.ts';
import { cpuMark, cpuSince, startProfile, stopProfile } from './profile.ts';
import type { Command, SetFile } from './proto.ts';

export interface AgentConfig {
  index: number;
  mode: 'swarm' | 'http';
  ip: string;
  site: string;
  machine: string;
  mac: string;
  etcd: string[];
  http: string;
  bootstrap: string[];
  /** Files fetched at once. */
  parallel: number;
  /** `random`: each agent its own order; `same`: all in the seed's order. */
  order: 'random' | 'same';
  /** Write a V8 CPU profile of the fetch phase (go → done) to this file. */
  profile?: string;
  /** Download tuning other than the defaults (BENCH_TUNING: timeouts, denials, concurrency). */
  tuning?: Partial<DownloadTuning>;
  /** Piece uploads in flight per requester and in total (BENCH_UPLOADS; default upload-limit.ts's). */
  uploads?: { perPeer?: number; total?: number };
  /** How often a running download asks the tracker for holders, ms (BENCH_POLL_MS; default the service's). */
  trackerPollMs?: number;
  /** The agent's JSON log goes to this file (BENCH_LOG_DIR; level from LPMOS_LOG_LEVEL, default info); none without. */
  logFile?: string;
}

const t0 = Date.now();
const cfg = JSON.parse(process.env.BENCH_SWARM_AGENT ?? '') as AgentConfig;
const url = (f: SetFile): string => `${cfg.http}/files/${encodeURIComponent(f.name)}`;

let go: (at: number) => void = () => undefined;
const started = new Promise<number>((resolve) => (go = resolve));
let stop: () => void = () => undefined;
const stopped = new Promise<void>((resolve) => (stop = resolve));
commands(
  (c: Command) => {
    if (c.type === 'go') go(c.at);
    else if (c.type === 'stop') stop();
  },
  () => stop(),
);
process.once('SIGTERM', () => stop());

async function getSet(): Promise<SetFile[]> {
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${cfg.http}/set.json`);
      if (r.ok) return (await r.json()) as SetFile[];
    } catch (e) {
      if (i > 50) throw e;
    }
    await sleep(200);
  }
}

function ordered(set: SetFile[]): SetFile[] {
  if (cfg.order === 'same') return set;
  const s = [...set];
  for (let i = s.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [s[i], s[j]] = [s[j]!, s[i]!];
  }
  return s;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/** Runs `fn` over the files, `parallel` at a time. */
async function each(files: SetFile[], fn: (f: SetFile) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(cfg.parallel, files.length) }, async () => {
      while (next < files.length) await fn(files[next++]!);
    }),
  );
}

/** The error with its causes (undici's "fetch failed" says why only in `cause`). */
function describe(e: unknown): string {
  const parts: string[] = [];
  for (let x: unknown = e, i = 0; x !== undefined && i < 4; x = (x as { cause?: unknown }).cause, i++) {
    const err = x as { stack?: string; code?: string };
    parts.push(i === 0 ? (err.stack ?? String(x)) : `cause: ${String(x)}${err.code ? ` (${err.code})` : ''}`);
  }
  return parts.join('\n');
}

let retries = 0;

/** One file from the seed; a network failure (not an HTTP error or a wrong hash) is tried again up to 3 times, 1 s apart, and counted. */
async function plainHttp(f: SetFile): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await plainHttpOnce(f);
    } catch (e) {
      if (!(e instanceof TypeError) || attempt > 3) throw e;
      retries++;
      await sleep(1000);
    }
  }
}

async function plainHttpOnce(f: SetFile): Promise<void> {
  const r = await fetch(url(f));
  if (!r.ok || !r.body) throw new Error(`${f.name}: HTTP ${r.status}`);
  const h = createHash('sha256');
  let n = 0;
  for await (const c of r.body) {
    h.update(c);
    n += c.length;
  }
  if (n !== f.size || h.digest('hex') !== f.sha256) throw new Error(`${f.name}: wrong size or sha256 from the seed`);
}

let store: Store | undefined;
let agent: AgentSwarm | undefined;
try {
  const set = await getSet();
  const bytes = set.reduce((n, f) => n + f.size, 0);
  if (cfg.mode === 'swarm') {
    const keys = new Keys('/lpmos/', cfg.site);
    store = await openStore({ endpoints: cfg.etcd, timeoutMs: 30_000 });
    await addMachine(store, keys, { name: cfg.machine, macs: [cfg.mac] });
    agent = await AgentSwarm.start({
      store,
      keys,
      site: cfg.site,
      machine: cfg.machine,
      ...(cfg.logFile ? { logger: createLogger({ format: 'json', name: `agent-${cfg.index}`, destination: pino.destination({ fd: openSync(cfg.logFile, 'a'), sync: true }) }) } : {}),
      bootstrap: cfg.bootstrap,
      listen: [`/ip4/${cfg.ip}/tcp/0`],
      blobs: { budget: bytes + 64 * 1024 * 1024, http: { host: cfg.ip }, ...(cfg.tuning ? { tuning: cfg.tuning } : {}), ...(cfg.trackerPollMs ? { trackerPollMs: cfg.trackerPollMs } : {}), ...(cfg.uploads ? { uploads: cfg.uploads } : {}) },
    });
    const seedPeer = cfg.bootstrap[0]!.split('/p2p/')[1]!;
    for (let i = 0; !agent.swarm.node.isConnected(seedPeer); i++) {
      if (i > 600) throw new Error('not connected to the seed after 60 s');
      await sleep(100);
    }
  }
  send({ type: 'agent-ready', index: cfg.index, startMs: Date.now() - t0 });
  await started;
  if (cfg.profile) await startProfile();
  const cpu0 = process.cpuUsage();
  const mark = cpuMark();
  const httpNow = (): { responses: number; chunks: number; bytes: number } => ({ responses: httpClientStats.responses + rangeStats.responses, chunks: httpClientStats.chunks + rangeStats.chunks, bytes: httpClientStats.bytes + rangeStats.bytes });
  const http0 = httpNow();
  const files = ordered(set);
  let fromSeed = 0;
  let fromPeers = 0;
  const perFile: { size: number; s: number }[] = [];
  if (agent) {
    const blobs = agent.blobs!;
    await each(files, async (f) => {
      const t = Date.now();
      const r = await blobs.fetch(f.manifest, { seedUrl: url(f) });
      perFile.push({ size: f.size, s: (Date.now() - t) / 1000 });
      fromSeed += r.fromSeed;
      fromPeers += r.fromPeers;
    });
  } else {
    await each(files, async (f) => {
      const t = Date.now();
      await plainHttp(f);
      perFile.push({ size: f.size, s: (Date.now() - t) / 1000 });
    });
    fromSeed = bytes;
  }
  const end = Date.now();
  const cpu = cpuMicros(cpu0);
  const split = cpuSince(mark);
  const h1 = httpNow();
  const http = { responses: h1.responses - http0.responses, chunks: h1.chunks - http0.chunks, bytes: h1.bytes - http0.bytes };
  if (cfg.profile) await stopProfile(cfg.profile);
  const st = agent?.blobs?.stats;
  send({ type: 'agent-done', index: cfg.index, end, bytes, fromSeed, fromPeers, servedToPeers: st?.bytesServedToPeers ?? 0, badPieces: st?.badPieces ?? 0, cpuMicros: cpu, split, http, heapUsed: process.memoryUsage().heapUsed, haveSent: agent?.blobs?.announcer.stats.sent ?? 0, haveReceived: agent?.blobs?.announcer.stats.received ?? 0, ...(agent?.blobs ? { tracker: { ...agent.blobs.tracker, piecesFromSeed: st?.piecesFromSeed ?? 0 } } : {}), smallFileSeconds: median(perFile.filter((x) => x.size < 1024 * 1024).map((x) => x.s)), biggestFileSeconds: perFile.reduce((a, b) => (b.size > a.size ? b : a), { size: 0, s: 0 }).s, ...(cfg.mode === 'http' ? { retries } : {}) });
  await stopped;
} catch (e) {
  send({ type: 'agent-failed', index: cfg.index, error: describe(e) });
} finally {
  await agent?.stop(0).catch(() => undefined);
  await store?.close().catch(() => undefined);
  process.exit(0);
}
