// Whole-machine CPU over an interval, from /proc/stat (every process, ours and everyone else's,
// and the kernel's softirq time that veth, the bridge and tc cost).
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface CpuSample {
  busy: number;
  total: number;
}

export function sampleCpu(): CpuSample {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = f[3]! + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** Busy share of all cores between two samples (0..1), and the core-seconds it stands for. */
export function busyBetween(a: CpuSample, b: CpuSample): { share: number; coreSeconds: number } {
  const total = b.total - a.total;
  const busy = b.busy - a.busy;
  return { share: total > 0 ? busy / total : 0, coreSeconds: busy / 100 };
}

export const CORES = cpus().length;
