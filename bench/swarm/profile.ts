// Where a benchmark worker's CPU goes during one phase: user vs kernel time, the main thread vs the
// others (V8's GC and compiler helpers, libuv's pool), main-thread GC pauses, and, when asked, a V8
// CPU profile of just that phase (node:inspector in the process itself: --cpu-prof would also
// record the start, module loading included).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/** CPU of this process between two points, seconds. */
export interface CpuSplit {
  user: number;
  system: number;
  /** The main (JavaScript) thread, and every other thread of the process. */
  main: number;
  other: number;
  /** Main-thread GC pauses (perf_hooks 'gc' entries), seconds of wall time, and how many were full (mark-compact) ones. */
  gc: number;
  gcMajor: number;
  /** CPU by thread name (/proc/…/comm: `node` is the main thread, `V8 DefaultWorke` GC and compiler helpers, `libuv-worker` the pool). */
  byThread?: Record<string, number>;
}

interface Mark {
  usage: NodeJS.CpuUsage;
  threads: { main: number; all: number; byName: Record<string, number> };
  gc: number;
  gcMajor: number;
}

const TICK = 100; // USER_HZ on Linux

function threadTicks(): { main: number; all: number; byName: Record<string, number> } {
  let main = 0;
  let all = 0;
  const byName: Record<string, number> = {};
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const f = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      const t = Number(rest[11]) + Number(rest[12]);
      all += t;
      const name = f.slice(f.indexOf('(') + 1, f.lastIndexOf(')'));
      byName[name] = (byName[name] ?? 0) + t;
      if (Number(tid) === process.pid) main = t;
    } catch {
      // the thread ended
    }
  }
  return { main, all, byName };
}

let gcSeconds = 0;
let gcMajor = 0;
let observer: PerformanceObserver | undefined;

/** Starts counting; `cpuSince` gives the split since this mark. */
export function cpuMark(): Mark {
  if (!observer) {
    observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        gcSeconds += e.duration / 1000;
        if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcMajor++;
      }
    });
    observer.observe({ entryTypes: ['gc'] });
  }
  return { usage: process.cpuUsage(), threads: threadTicks(), gc: gcSeconds, gcMajor };
}

export function cpuSince(m: Mark): CpuSplit {
  const u = process.cpuUsage(m.usage);
  const t = threadTicks();
  const main = (t.main - m.threads.main) / TICK;
  const byThread = Object.fromEntries(Object.entries(t.byName).map(([k, v]) => [k, (v - (m.threads.byName[k] ?? 0)) / TICK]));
  return { user: u.user / 1e6, system: u.system / 1e6, main, other: (t.all - m.threads.all) / TICK - main, gc: gcSeconds - m.gc, gcMajor: gcMajor - m.gcMajor, byThread };
}

let session: Session | undefined;

/** Starts a V8 CPU profile of this process (main thread), sampling every `intervalUs`. */
export async function startProfile(intervalUs = 500): Promise<void> {
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
  await session.post('Profiler.start');
}

/** Stops the profile started by startProfile and writes it (Chrome DevTools .cpuprofile). */
export async function stopProfile(path: string): Promise<void> {
  if (!session) return;
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(path, JSON.stringify(profile));
  session.disconnect();
  session = undefined;
}
