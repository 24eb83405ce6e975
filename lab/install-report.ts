// What an install run reports (pure): the per-machine summary table of `lpmos demo` (machine, duration
// power-on → provisioned, bytes from the seed and from peers, result), the per-step timing of
// `npm run bench:install` from a machine's progress log, and the byte counters found in
// `lpmos machine show -o json`. No number is made up: what is not known prints as "-".
import { renderTable } from '../cli/output.ts';

export type MachineResult = 'provisioned' | 'failed' | 'timed out' | 'qemu exited' | 'stopped';

export interface MachineOutcome {
  id: string;
  firmware: string;
  profile: string;
  /** Host clock (ms since the epoch) when QEMU started. */
  poweredOnAt: number;
  /** When the seed had the machine's inventory, when its status became `provisioned`. */
  inspectedAt?: number;
  provisionedAt?: number;
  /** When the run stopped following this machine (= provisionedAt when it was provisioned). */
  endedAt: number;
  result: MachineResult;
  error?: string;
  bytesFromSeed?: number;
  bytesFromPeers?: number;
}

export interface BlobBytes {
  fromSeed: number;
  fromPeers: number;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/**
 * The blob byte counters of a machine in a `machine show -o json` document: the first object (searched
 * breadth-first, a few levels deep) with numeric `bytesFromSeed` and `bytesFromPeers`. Undefined when the
 * document has none (an older seed, or the agent never fetched a blob).
 */
export function blobBytes(doc: unknown, maxDepth = 4): BlobBytes | undefined {
  let level: unknown[] = [doc];
  for (let depth = 0; depth <= maxDepth && level.length; depth++) {
    const next: unknown[] = [];
    for (const v of level) {
      if (!v || typeof v !== 'object') continue;
      const o = v as Record<string, unknown>;
      if (isCount(o.bytesFromSeed) && isCount(o.bytesFromPeers)) return { fromSeed: o.bytesFromSeed, fromPeers: o.bytesFromPeers };
      next.push(...(Array.isArray(v) ? v : Object.values(o)));
    }
    level = next;
  }
  return undefined;
}

/** `45 s`, `3m 07s`, `1h 02m 03s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}h ${String(m).padStart(2, '0')}m ${sec}s` : `${m}m ${sec}s`;
}

/** Binary units, one decimal: `0 B`, `512 B`, `1.5 KiB`, `87.3 MiB`; `-` when unknown. */
export function formatBytes(n: number | undefined): string {
  if (n === undefined || !isCount(n)) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** Power-on → provisioned; for a machine that did not get there, power-on → when the run gave up on it. */
export function outcomeDuration(o: MachineOutcome): number {
  return (o.provisionedAt ?? o.endedAt) - o.poweredOnAt;
}

export function renderSummary(outcomes: readonly MachineOutcome[]): string {
  return renderTable([...outcomes], [
    { header: 'MACHINE', get: (o) => o.id },
    { header: 'FIRMWARE', get: (o) => o.firmware },
    { header: 'DURATION', get: (o) => (o.result === 'provisioned' ? formatDuration(outcomeDuration(o)) : `(${formatDuration(outcomeDuration(o))})`) },
    { header: 'FROM SEED', get: (o) => formatBytes(o.bytesFromSeed) },
    { header: 'FROM PEERS', get: (o) => formatBytes(o.bytesFromPeers) },
    { header: 'RESULT', get: (o) => (o.error ? `${o.result}: ${o.error}` : o.result) },
  ]);
}

/** The fields of a progress log entry (`lpmos machine logs -o json`) the timing needs. */
export interface TimedEntry {
  step: string;
  state: string;
  time: string;
  seq?: number;
}

export interface StepTiming {
  step: string;
  /** Agent clock, ms since the epoch: first and last entry of the step. */
  start: number;
  end: number;
  /** Last state reported for the step (`done`, `failed`, `running`, `complete`). */
  state: string;
}

/**
 * Per step, in the order steps first appear: from its first entry to the first entry of the next step
 * (steps run one after another, so the next step starting is when this one ended), or to its own last
 * entry for the last step. Entries are ordered by seq (then time) first; unparsable times are skipped.
 */
export function stepTimings(entries: readonly TimedEntry[]): StepTiming[] {
  const sorted = entries
    .map((e) => ({ e, t: Date.parse(e.time) }))
    .filter((x) => Number.isFinite(x.t))
    .sort((a, b) => (a.e.seq ?? 0) - (b.e.seq ?? 0) || a.t - b.t);
  const steps: StepTiming[] = [];
  const byName = new Map<string, StepTiming>();
  for (const { e, t } of sorted) {
    let s = byName.get(e.step);
    if (!s) {
      const prev = steps.at(-1);
      if (prev) prev.end = Math.max(prev.end, t);
      s = { step: e.step, start: t, end: t, state: e.state };
      byName.set(e.step, s);
      steps.push(s);
    } else {
      s.end = Math.max(s.end, t);
      s.state = e.state;
    }
  }
  return steps;
}

/** `  os            412.3 s  done` lines, then the span from the first to the last entry. */
export function renderStepTimings(steps: readonly StepTiming[]): string {
  if (!steps.length) return '  (no progress entries)\n';
  const w = Math.max(...steps.map((s) => s.step.length));
  const lines = steps.map((s) => `  ${s.step.padEnd(w)}  ${((s.end - s.start) / 1000).toFixed(1).padStart(7)} s  ${s.state}`);
  lines.push(`  ${'(agent total)'.padEnd(w)}  ${((steps.at(-1)!.end - steps[0]!.start) / 1000).toFixed(1).padStart(7)} s`);
  return `${lines.join('\n')}\n`;
}
