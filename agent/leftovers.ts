// What a killed agent leaves running: the process groups of the commands it started (installers/exec.ts
// records each as a file named by its id). The next agent ends them before it resumes the plan, so a
// half-finished debootstrap does not keep writing into the target while the plan starts that step again.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../core/log.ts';

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILLs every recorded process group still alive, waits until they are gone (≤ timeoutMs); returns their commands. */
export async function endLeftoverGroups(dir: string, log: Logger, timeoutMs = 10_000): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const ended: string[] = [];
  const alive: number[] = [];
  for (const n of names) {
    const pgid = Number(n);
    const file = join(dir, n);
    if (!Number.isInteger(pgid) || pgid <= 1 || pgid === process.pid) {
      await rm(file, { force: true });
      continue;
    }
    const what = await readFile(file, 'utf8').catch(() => '?');
    if (groupAlive(pgid)) {
      try {
        process.kill(-pgid, 'SIGKILL');
        alive.push(pgid);
        ended.push(what);
        log.warn({ pgid, command: what }, 'ending a command the previous agent left running');
      } catch { /* gone meanwhile */ }
    }
    await rm(file, { force: true });
  }
  const end = Date.now() + timeoutMs;
  while (alive.some(groupAlive) && Date.now() < end) await sleep(100);
  return ended;
}
