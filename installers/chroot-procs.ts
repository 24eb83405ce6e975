// Processes left running inside the install target's chroot (a package's maintainer script that
// started a daemon, a post-install script's background job) keep the target's filesystems busy:
// unmounting then fails or has to detach lazily, and the disk stays in use after the install. Before
// the chroot's mounts come down, every process whose root directory is the target gets SIGTERM, and
// SIGKILL after a grace period. Only processes chrooted into this target are touched: they were
// started by this install (the target is a directory the agent made and mounted).
import { readdir, readlink, realpath } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Pids whose root directory (/proc/PID/root) is `target` (resolved). */
export async function chrootedPids(target: string, proc = '/proc'): Promise<number[]> {
  const want = await realpath(target);
  const out: number[] = [];
  for (const e of await readdir(proc)) {
    if (!/^\d+$/.test(e)) continue;
    const root = await readlink(`${proc}/${e}/root`).catch(() => undefined); // gone, or not ours to read
    if (root === want) out.push(Number(e));
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false; // already gone
  }
}

/**
 * Ends the processes running in the chroot at `target`: SIGTERM, then, after `graceMs`, SIGKILL to
 * whatever still runs there (again until none is left: a killed shell's children, a child forked
 * meanwhile). Returns the pids it signalled.
 */
export async function endChrootProcesses(target: string, graceMs = 5000): Promise<number[]> {
  const pids = await chrootedPids(target);
  if (pids.length === 0) return [];
  const all = new Set(pids);
  for (const p of pids) signal(p, 'SIGTERM');
  const end = Date.now() + graceMs;
  let left = pids;
  while (left.length > 0 && Date.now() < end) {
    await sleep(100);
    left = await chrootedPids(target);
  }
  for (let round = 0; round < 20 && left.length > 0; round++) {
    for (const p of left) {
      all.add(p);
      signal(p, 'SIGKILL');
    }
    await sleep(50);
    left = await chrootedPids(target);
  }
  return [...all];
}
