// `npm run bench:swarm` (issue 7): N agents as processes in N network namespaces on one bridge,
// the seed in its own, every link shaped with tc; all fetch the same set (one random 64 MiB
// ramdisk-like blob + the real .deb files of a Debian minbase + kernel install). In the same run:
// (a) our swarm — gated libp2p nodes enrolled in a real etcd, each with a blob exchange, fetching
// by the seed's manifests with the seed's HTTP as fallback; (b) every agent from the seed over
// plain HTTP; (c) the Kumar–Ross lower bound for those capacities. Prints makespan, seed egress
// (the seed veth's tx counter) and the ratios per N, and whole-machine CPU to say what the limit was.
//
// Env: BENCH_N (default "8"; e.g. "8,32,64"), BENCH_MBIT (every link, default 100), BENCH_SET_MIB
// (total set size, default every package), BENCH_BLOB_MIB (default 64), BENCH_DEBS (default
// ~/.cache/lpmos/apt-cache), BENCH_MODES (default "swarm,http"), BENCH_PAR (files fetched at once
// per agent, default 4), BENCH_ORDER (random | same, default random), BENCH_JSON=1 (JSON only),
// BENCH_IDLE_S (seconds the agents' idle CPU is measured after a phase, default 5), BENCH_LOG_DIR
// (each agent's JSON log there, level from LPMOS_LOG_LEVEL), BENCH_PROF_DIR (V8 CPU profiles of the
// fetch phase there: agent 1 from go to its done, the seed from go to the last done), BENCH_FORCE=1
// (skip the memory check), BENCH_TUNING (JSON, the agents' download tuning other than
// swarm/blobs/download.ts's defaults, e.g. '{"pieceTimeoutMs":15000}'), BENCH_SEED_GRANTS (granted
// seed pieces in flight at most; default tracker-server.ts's), BENCH_PIECE_KIB (piece size of the
// set's manifests, a power of two from 16 to 16384; default 1024), BENCH_POLL_MS (how often a
// running download asks the tracker for holders; default 1000), BENCH_UPLOADS (JSON, the agents'
// piece uploads in flight per requester and in total, e.g. '{"perPeer":2,"total":4}'; default 4 / 16).
// Needs root (namespaces, tc). Everything is removed at the end, on failure and on Ctrl-C.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { homedir, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { fastTempBase } from '../test/helpers/etcd.ts';
import { Lab } from '../test/helpers/netns.ts';
import { kumarRoss, uniform, type Bound } from './swarm/bound.ts';
import { busyBetween, CORES, sampleCpu } from './swarm/cpu.ts';
import { agentIp, createNet, SEED_IP, seedTxBytes, agentsRxBytes, type BenchNet } from './swarm/net.ts';
import { Worker } from './swarm/proc.ts';
import type { AgentConfig } from './swarm/agent.ts';
import type { DownloadTuning } from '../swarm/blobs/download.ts';
import type { CpuSplit } from './swarm/profile.ts';
import type { AgentDone, AgentFailed, AgentReady, SeedReady, SeedStats } from './swarm/proto.ts';
import { buildSet, type BuiltSet } from './swarm/set.ts';
import { ensureDebs } from './swarm/debs.ts';
import { diffCounters, printHead, printPhase, sumCounters, type Phase, type Row } from './swarm/report.ts';

const MiB = 1024 * 1024;
const Ns = (process.env.BENCH_N ?? '8').split(',').map(Number);
const seedGrants = process.env.BENCH_SEED_GRANTS ? Number(process.env.BENCH_SEED_GRANTS) : undefined;
const pieceKiB = process.env.BENCH_PIECE_KIB ? Number(process.env.BENCH_PIECE_KIB) : undefined;
const pollMs = process.env.BENCH_POLL_MS ? Number(process.env.BENCH_POLL_MS) : undefined;
const uploads = process.env.BENCH_UPLOADS ? (JSON.parse(process.env.BENCH_UPLOADS) as { perPeer?: number; total?: number }) : undefined;
const tuning = process.env.BENCH_TUNING ? (JSON.parse(process.env.BENCH_TUNING) as Partial<DownloadTuning>) : undefined;
const mbit = Number(process.env.BENCH_MBIT ?? 100);
const setMiB = process.env.BENCH_SET_MIB ? Number(process.env.BENCH_SET_MIB) : undefined;
const blobMiB = Number(process.env.BENCH_BLOB_MIB ?? 64);
const debDir = process.env.BENCH_DEBS ?? join(homedir(), '.cache/lpmos/apt-cache');
const modes = (process.env.BENCH_MODES ?? 'swarm,http').split(',') as ('swarm' | 'http')[];
const parallel = Number(process.env.BENCH_PAR ?? 4);
const order = (process.env.BENCH_ORDER ?? 'random') as 'random' | 'same';
const json = process.env.BENCH_JSON === '1';
/** Agent 1 and the seed write V8 CPU profiles of every phase here. */
const idleMs = Number(process.env.BENCH_IDLE_S ?? 5) * 1000;
const profDir = process.env.BENCH_PROF_DIR;
const logDir = process.env.BENCH_LOG_DIR;
const SITE = 'bench';
const here = import.meta.dirname;

const log = (s: string): void => {
  if (!json) process.stderr.write(`${s}\n`);
};


function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

const lab = new Lab('bsw');
const live = new Set<Worker>();
const tmp = mkdtempSync(join(fastTempBase(), `lpmos-bench-swarm-${process.pid}-`));
lab.defer(() => rmSync(tmp, { recursive: true, force: true }));
lab.defer(async () => {
  await Promise.all([...live].map((w) => w.stop(1000)));
});
let cleaning: Promise<void> | undefined;
// Workers write their compile cache as they exit: the temp dir goes once more after the namespaces (and whatever ran in them).
const cleanup = (): Promise<void> => (cleaning ??= lab.cleanup().finally(() => rmSync(tmp, { recursive: true, force: true })));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: removing namespaces and processes\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

function worker(name: string, ns: string, script: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Worker {
  if (cleaning) throw new Error('stopping');
  const w = new Worker(name, ns, join(here, 'swarm', script), { NODE_COMPILE_CACHE: join(tmp, 'compile-cache'), ...env }, nodeArgs);
  live.add(w);
  void w.exited.then(() => live.delete(w));
  return w;
}

async function seedStats(seed: Worker): Promise<SeedStats> {
  const p = seed.next<SeedStats>(['seed-stats'], 10_000);
  seed.send({ type: 'stats' });
  return p;
}

async function phase(mode: 'swarm' | 'http', n: number, net: BenchNet, seed: Worker, ready: SeedReady, set: BuiltSet, bound: Bound): Promise<Phase> {
  const t0 = Date.now();
  const agents: Worker[] = [];
  const readies: AgentReady[] = [];
  // Started in batches: 64 Node processes loading libp2p at once starve each other (and etcd).
  const batch = mode === 'swarm' ? 8 : 16;
  for (let i = 1; i <= n; i += batch) {
    const started: Worker[] = [];
    for (let j = i; j < Math.min(n + 1, i + batch); j++) {
      const cfg: AgentConfig = {
        index: j,
        mode,
        ip: agentIp(j),
        site: SITE,
        machine: `bsw-${n}-${j}`,
        mac: `52:54:00:${n.toString(16).padStart(2, '0')}:${(j >> 8).toString(16).padStart(2, '0')}:${(j & 255).toString(16).padStart(2, '0')}`,
        etcd: ready.etcd,
        http: ready.http,
        bootstrap: ready.bootstrap,
        parallel,
        order,
        ...(profDir && j === 1 ? { profile: join(profDir, `agent-1-${mode}-n${n}.cpuprofile`) } : {}),
        ...(tuning ? { tuning } : {}),
        ...(pollMs ? { trackerPollMs: pollMs } : {}),
        ...(uploads ? { uploads } : {}),
        ...(logDir ? { logFile: join(logDir, `agent-${j}-${mode}-n${n}.log`) } : {}),
      };
      started.push(worker(`agent ${j} (${mode})`, net.agentNs[j - 1]!, 'agent.ts', { BENCH_SWARM_AGENT: JSON.stringify(cfg) }));
    }
    agents.push(...started);
    for (const m of await Promise.all(started.map((a) => a.next<AgentReady | AgentFailed>(['agent-ready', 'agent-failed'], 180_000)))) {
      if (m.type === 'agent-failed') throw new Error(`agent ${m.index} failed to start: ${m.error}`);
      readies.push(m);
    }
  }
  const startSeconds = (Date.now() - t0) / 1000;
  log(`  ${mode}: ${n} agents ready in ${startSeconds.toFixed(1)} s; go`);
  const s0 = await seedStats(seed);
  const tx0 = seedTxBytes(lab, net);
  const cpu0 = sampleCpu();
  const agentCpu0 = agents.map((a) => a.cpuSeconds());
  if (profDir) seed.send({ type: 'profile-start' });
  const at = Date.now();
  for (const a of agents) a.send({ type: 'go', at });
  const seedTx: number[] = [tx0];
  const agentRx: number[] = [agentsRxBytes(lab, net)];
  const sampler = setInterval(() => {
    seedTx.push(seedTxBytes(lab, net));
    agentRx.push(agentsRxBytes(lab, net));
  }, 5000);
  const timeoutMs = Math.max(600_000, bound.seconds * 40_000);
  const dones: AgentDone[] = [];
  let lastLog = Date.now();
  try {
    await Promise.all(
      agents.map(async (a) => {
        const m = await a.next<AgentDone | AgentFailed>(['agent-done', 'agent-failed'], timeoutMs);
        if (m.type === 'agent-failed') throw new Error(`agent ${m.index} failed: ${m.error}`);
        dones.push(m);
        if (Date.now() - lastLog > 10_000 || dones.length === n) {
          lastLog = Date.now();
          log(`    ${dones.length}/${n} done after ${((Date.now() - at) / 1000).toFixed(1)} s`);
        }
      }),
    );
  } finally {
    // Also when an agent failed: the sampler reads the namespaces, which the cleanup removes.
    clearInterval(sampler);
  }
  const cpu1 = sampleCpu();
  const tx1 = seedTxBytes(lab, net);
  const seedMbitPer5s = seedTx.slice(1).map((b, i) => ((b - seedTx[i]!) * 8) / 5 / 1e6);
  const agentMbitPer5s = agentRx.slice(1).map((b, i) => ((b - agentRx[i]!) * 8) / 5 / 1e6 / n);
  if (profDir) seed.send({ type: 'profile-stop', path: join(profDir, `seed-${mode}-n${n}.cpuprofile`) });
  const s1 = await seedStats(seed);
  const agentCpu = agents.reduce((sum, a, i) => sum + a.cpuSeconds() - agentCpu0[i]!, 0);
  const rss = Math.max(...agents.map((a) => a.peakRss()));
  // What an agent costs when it has nothing to fetch (timers, heartbeats, etcd): part of every CPU-per-MiB figure.
  const idle0 = agents.map((a) => a.cpuSeconds());
  await sleep(idleMs);
  const agentIdleMsPerS = (agents.reduce((sum, a, i) => sum + a.cpuSeconds() - idle0[i]!, 0) * 1000) / n / (idleMs / 1000);
  await Promise.all(agents.map((a) => a.stop()));
  const finishes = dones.map((d) => (d.end - at) / 1000);
  const makespan = Math.max(...finishes);
  const seedEgress = tx1 - tx0;
  const machine = busyBetween(cpu0, cpu1);
  const capacity = (mbit * 1e6) / 8;
  const seedLinkUse = seedEgress / makespan / capacity;
  const agentLinkUse = (n * set.bytes) / makespan / (n * capacity);
  const ours = (agentCpu + (s1.cpuMicros - s0.cpuMicros) / 1e6) / (makespan * CORES);
  const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
  // A saturated link is the limit whatever the CPU did; otherwise a busy machine is.
  const limit =
    seedLinkUse >= 0.8
      ? `seed link (${pct(seedLinkUse)} used)`
      : agentLinkUse >= 0.8
        ? `agent links (${pct(agentLinkUse)} used)`
        : machine.share >= 0.9
          ? `CPU (machine ${pct(machine.share)} busy, ${pct(ours)} by this benchmark; links: seed ${pct(seedLinkUse)}, agents ${pct(agentLinkUse)})`
          : `neither (machine ${pct(machine.share)} busy, seed link ${pct(seedLinkUse)}, agent links ${pct(agentLinkUse)}): latency of the protocol`;
  return {
    mode,
    makespan,
    overBound: makespan / bound.seconds,
    seedEgress,
    seedHttp: s1.httpBytes - s0.httpBytes,
    egressOverSet: seedEgress / set.bytes,
    fromSeed: dones.reduce((s, d) => s + d.fromSeed, 0),
    fromPeers: dones.reduce((s, d) => s + d.fromPeers, 0),
    badPieces: dones.reduce((s, d) => s + d.badPieces, 0),
    retries: dones.reduce((s, d) => s + (d.retries ?? 0), 0),
    haveSent: dones.reduce((s, d) => s + d.haveSent, 0),
    haveReceived: dones.reduce((s, d) => s + d.haveReceived, 0),
    tracker: sumCounters([...dones.map((d) => d.tracker ?? {}), diffCounters(s1.tracker ?? {}, s0.tracker ?? {}, 'seed.')]),
    agentPeakRss: rss,
    agentHeap: Math.max(...dones.map((d) => d.heapUsed ?? 0)),
    smallFile: median(dones.map((d) => d.smallFileSeconds)),
    biggestFile: median(dones.map((d) => d.biggestFileSeconds)),
    finish: { min: Math.min(...finishes), median: median(finishes), max: makespan },
    startSeconds,
    slowestStart: Math.max(...readies.map((r) => r.startMs)) / 1000,
    cpu: { machineShare: machine.share, machineCoreSeconds: machine.coreSeconds, agentsCoreSeconds: agentCpu, seedCoreSeconds: (s1.cpuMicros - s0.cpuMicros) / 1e6, oursShare: ours, agentMsPerMiB: (agentCpu * 1000) / ((n * set.bytes) / MiB) },
    agentIdleMsPerS,
    seedMbitPer5s,
    agentMbitPer5s,
    split: { agents: sumSplits(dones.map((d) => d.split)), seed: s1.split && s0.split ? diffSplit(s1.split, s0.split) : undefined },
    http: { responses: dones.reduce((x, d) => x + (d.http?.responses ?? 0), 0), chunks: dones.reduce((x, d) => x + (d.http?.chunks ?? 0), 0), bytes: dones.reduce((x, d) => x + (d.http?.bytes ?? 0), 0) },
    seedLinkUse,
    agentLinkUse,
    limit,
  };
}

const ZERO: CpuSplit = { user: 0, system: 0, main: 0, other: 0, gc: 0, gcMajor: 0 };

function sumSplits(xs: (CpuSplit | undefined)[]): CpuSplit {
  return xs.reduce<CpuSplit>((a, x) => (x ? { user: a.user + x.user, system: a.system + x.system, main: a.main + x.main, other: a.other + x.other, gc: a.gc + x.gc, gcMajor: a.gcMajor + (x.gcMajor ?? 0), byThread: sumCounters([a.byThread ?? {}, x.byThread ?? {}]) } : a), ZERO);
}

function diffSplit(a: CpuSplit, b: CpuSplit): CpuSplit {
  return { user: a.user - b.user, system: a.system - b.system, main: a.main - b.main, other: a.other - b.other, gc: a.gc - b.gc, gcMajor: (a.gcMajor ?? 0) - (b.gcMajor ?? 0) };
}

/** The code measured: HEAD, and whether swarm/ differs from it (the blob exchange is being worked on). */
function codeVersion(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: join(here, '..'), encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'swarm'], { cwd: join(here, '..'), encoding: 'utf8' }).trim();
    return dirty ? `${head} + uncommitted changes in swarm/` : head;
  } catch {
    return 'unknown';
  }
}

const rows: Row[] = [];
const code = codeVersion();
try {
  if (process.getuid?.() !== 0) throw new Error('bench:swarm needs root (network namespaces, tc)');
  const setDir = join(tmp, 'set');
  mkdirSync(setDir);
  // The default directory is filled once from the host's mirror; one the operator names is used as it is.
  if (process.env.BENCH_DEBS === undefined) {
    const got = await ensureDebs(debDir, log);
    if (got) log(`downloaded ${got} package files into ${debDir}`);
  }
  const set = buildSet({ debDir, blobMiB, ...(setMiB !== undefined ? { setMiB } : {}) }, setDir);
  log(`code: ${code}${tuning ? `; agent tuning ${JSON.stringify(tuning)}` : ''}${seedGrants ? `; seed grants ${seedGrants}` : ''}${pieceKiB ? `; pieces of ${pieceKiB} KiB` : ''}${pollMs ? `; tracker polls every ${pollMs} ms` : ''}${uploads ? `; agents' uploads ${JSON.stringify(uploads)}` : ''}`);
  log(`set: ${(set.bytes / MiB).toFixed(1)} MiB = ${blobMiB} MiB random blob + ${set.packages} packages (${(set.packageBytes / MiB).toFixed(1)} MiB) from ${debDir}`);
  const maxN = Math.max(...Ns);
  // A swarm agent holds the set in memory on top of ~180 MiB of its own (peak RSS measured 191 MiB at N = 8 with
  // a 24 MiB set, 226 MiB at N = 64 with 48 MiB; 300 MiB before the range client): refuse what would push the machine into the OOM killer.
  const need = maxN * (set.bytes + 200 * MiB);
  const avail = Number(/MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) * 1024;
  if (modes.includes('swarm') && need > 0.8 * avail && process.env.BENCH_FORCE !== '1')
    throw new Error(`${maxN} swarm agents with a ${(set.bytes / MiB).toFixed(0)} MiB set need about ${(need / 2 ** 30).toFixed(1)} GiB; ${(avail / 2 ** 30).toFixed(1)} GiB available: use a smaller BENCH_SET_MIB (or BENCH_FORCE=1)`);
  const net = createNet(lab, maxN, mbit, tmp);
  log(`network: bridge + seed + ${maxN} agent namespaces (${lab.tag}-*), ${mbit} Mbit/s htb on both ends of every veth, neighbours permanent`);
  const stateDir = join(tmp, 'seed');
  mkdirSync(stateDir);
  const seed = worker('seed', net.seedNs, 'seed.ts', { BENCH_SWARM_SEED: JSON.stringify({ ip: SEED_IP, setDir, stateDir, site: SITE, ...(seedGrants ? { maxSeedGrants: seedGrants } : {}), ...(pieceKiB ? { pieceSize: pieceKiB * 1024 } : {}) }) });
  const ready = await seed.next<SeedReady>(['seed-ready'], 180_000);
  log(`seed ready: etcd ${ready.etcd[0]}, HTTP ${ready.http}, ${ready.files} blobs`);
  for (const n of Ns) {
    const bound = kumarRoss(set.bytes, uniform(n, mbit));
    log(`N = ${n}: bound ${bound.seconds.toFixed(1)} s; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    const row: Row = { n, mbit, setBytes: set.bytes, files: set.files.length, bound, phases: [] };
    rows.push(row);
    if (!json) printHead(row);
    for (const mode of modes) {
      const p = await phase(mode, n, net, seed, ready, set, bound);
      row.phases.push(p);
      if (!json) printPhase(p);
    }
  }
  if (json) console.log(JSON.stringify({ code, mbit, setBytes: set.bytes, files: set.files.length, packages: set.packages, debDir, parallel, order, cores: CORES, loadavg: loadavg(), rows }, null, 2));
  else console.log(`\nload average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
} catch (e) {
  process.stderr.write(`bench:swarm failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
