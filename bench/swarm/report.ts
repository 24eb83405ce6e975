// bench:swarm's results: what one phase measured, one row per N, and how both are printed for people
// (BENCH_JSON=1 prints the same rows as JSON).
import type { Bound } from './bound.ts';
import { CORES } from './cpu.ts';
import type { CpuSplit } from './profile.ts';

const MiB = 1024 * 1024;

export interface Phase {
  mode: 'swarm' | 'http';
  makespan: number;
  overBound: number;
  /** Seed veth tx bytes during the phase, and the part its HTTP server wrote. */
  seedEgress: number;
  seedHttp: number;
  egressOverSet: number;
  fromSeed: number;
  fromPeers: number;
  badPieces: number;
  /** Plain HTTP fetches started again after a network failure, summed over agents. */
  retries: number;
  /** Have announcements published and received, summed over agents. */
  haveSent: number;
  haveReceived: number;
  /** Tracker counters summed over agents, and the seed's (`seed.` prefix) during the phase. */
  tracker: Record<string, number>;
  /** Largest peak RSS of one agent, bytes, and its largest V8 heap at done. */
  agentPeakRss: number;
  agentHeap: number;
  /** Medians over agents: one fetch of a file under 1 MiB, and of the largest file, s. */
  smallFile: number;
  biggestFile: number;
  /** Agents' finish times after go, s. */
  finish: { min: number; median: number; max: number };
  /** Seconds to start all agents (before go), and the slowest agent's own start. */
  startSeconds: number;
  slowestStart: number;
  cpu: { machineShare: number; machineCoreSeconds: number; agentsCoreSeconds: number; seedCoreSeconds: number; oursShare: number; agentMsPerMiB: number };
  /** Agents' CPU (go → own done, summed) and the seed's, by kind and thread (bench/swarm/profile.ts), s. */
  split: { agents: CpuSplit; seed: CpuSplit | undefined };
  /** CPU of one agent with nothing to fetch (after the phase), ms per second. */
  agentIdleMsPerS: number;
  /** The seed link's use per 5 s of the phase (Mbit/s): when it idled while agents still waited; and an agent link's download, mean of all. */
  seedMbitPer5s: number[];
  agentMbitPer5s: number[];
  /** Agents' range GETs (summed): responses, body chunks, bytes. */
  http: { responses: number; chunks: number; bytes: number };
  /** Link use: seed's average send rate over its capacity; agents' average receive rate over theirs. */
  seedLinkUse: number;
  agentLinkUse: number;
  limit: string;
}

export interface Row {
  n: number;
  mbit: number;
  setBytes: number;
  files: number;
  bound: Bound;
  phases: Phase[];
}

function splitText(x: CpuSplit): string {
  const threads = Object.entries(x.byThread ?? {}).filter(([, v]) => v >= 0.05).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
  return `user ${x.user.toFixed(1)} s, system ${x.system.toFixed(1)} s; main thread ${x.main.toFixed(1)} s (GC pauses ${x.gc.toFixed(1)} s, ${x.gcMajor} full), other threads ${x.other.toFixed(1)} s${threads ? ` (${threads})` : ''}`;
}

export function sumCounters(xs: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) for (const [k, v] of Object.entries(x)) out[k] = (out[k] ?? 0) + v;
  return out;
}

export function diffCounters(a: Record<string, number>, b: Record<string, number>, prefix: string): Record<string, number> {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [prefix + k, v - (b[k] ?? 0)]));
}

export function printHead(r: Omit<Row, 'phases'>): void {
  const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;
  const b = r.bound;
  console.log(`\nN = ${r.n}, every link ${r.mbit} Mbit/s, set ${mib(r.setBytes)} in ${r.files} files`);
  console.log(`  (c) Kumar–Ross bound ${b.seconds.toFixed(1)} s (${b.which}; F/u_s ${b.seed.toFixed(1)} s, F/d_min ${b.slowest.toFixed(1)} s, N·F/(u_s+Σu_i) ${b.aggregate.toFixed(1)} s)`);
}

/** One phase's lines, printed as soon as it ends (a later phase that fails does not take them along). */
export function printPhase(p: Phase): void {
  const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;
  const tag = p.mode === 'swarm' ? '(a) swarm' : '(b) HTTP ';
  console.log(
    `  ${tag}  makespan ${p.makespan.toFixed(1)} s = ${p.overBound.toFixed(2)}× bound (first ${p.finish.min.toFixed(1)}, median ${p.finish.median.toFixed(1)})  ` +
      `seed egress ${mib(p.seedEgress)} = ${p.egressOverSet.toFixed(2)}× set (HTTP ${mib(p.seedHttp)})` +
      (p.mode === 'swarm' ? `  from peers ${((p.fromPeers / (p.fromPeers + p.fromSeed)) * 100).toFixed(1)}%${p.badPieces ? `, bad pieces ${p.badPieces}` : ''}; have messages ${p.haveSent} sent, ${p.haveReceived} received` : '') +
      (p.retries > 0 ? `  fetches retried after a network error: ${p.retries}` : ''),
  );
  console.log(
    `             CPU: machine ${(p.cpu.machineShare * 100).toFixed(0)}% of ${CORES} cores (${p.cpu.machineCoreSeconds.toFixed(0)} core-s), agents ${p.cpu.agentsCoreSeconds.toFixed(0)} s (${p.cpu.agentMsPerMiB.toFixed(1)} ms per MiB fetched), seed ${p.cpu.seedCoreSeconds.toFixed(1)} s; ` +
      `agent peak RSS ${mib(p.agentPeakRss)} (V8 heap ${mib(p.agentHeap)}); start ${p.startSeconds.toFixed(0)} s; one file < 1 MiB ${p.smallFile.toFixed(2)} s, the largest ${p.biggestFile.toFixed(1)} s (medians)`,
  );
  console.log(`             per 5 s, Mbit/s: seed link ${p.seedMbitPer5s.map((x) => x.toFixed(0)).join(' ')}; an agent's download (mean) ${p.agentMbitPer5s.map((x) => x.toFixed(0)).join(' ')}`);
  console.log(`             CPU split: agents ${splitText(p.split.agents)}${p.split.seed ? `; seed ${splitText(p.split.seed)}` : ''}; one idle agent ${p.agentIdleMsPerS.toFixed(1)} ms/s`);
  if (p.http.responses > 0) console.log(`             agents' range GETs: ${p.http.responses} responses, ${(p.http.bytes / MiB).toFixed(0)} MiB in ${p.http.chunks} chunks (${(p.http.bytes / Math.max(1, p.http.chunks) / 1024).toFixed(1)} KiB each)`);
  if (p.mode === 'swarm' && Object.keys(p.tracker).length > 0) console.log(`             tracker: ${Object.entries(p.tracker).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`             limit: ${p.limit}`);
}
