// One builder per cache key at a time, across processes (parallel test files, a CLI run beside a test):
// a lock directory holding the owner's pid; a lock whose owner is gone is taken over.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, LpmosError } from '../../core/errors.ts';

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function withLock<T>(lockDir: string, fn: () => Promise<T>, opts: { timeoutMs?: number; signal?: AbortSignal; onWait?: () => void } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
  let told = false;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      await mkdir(lockDir);
      await writeFile(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(await readFile(join(lockDir, 'pid'), 'utf8').catch(() => ''));
      if (Number.isInteger(pid) && pid > 0 && !pidAlive(pid)) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new LpmosError(ErrorCode.Timeout, `waited too long for the build lock ${lockDir} (held by pid ${pid})`);
      if (!told) opts.onWait?.();
      told = true;
      await sleep(1000, undefined, { signal: opts.signal });
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

/** Whether a lock directory is held by a live process (a lock left by a killed build is not). */
export async function lockHeld(lockDir: string): Promise<boolean> {
  const pid = Number(await readFile(join(lockDir, 'pid'), 'utf8').catch(() => ''));
  return !(Number.isInteger(pid) && pid > 0 && !pidAlive(pid));
}
