// Loop disks, mounts and processes on this machine for the installer's component test
// (install-debian.test.ts): commands run synchronously and throw with their stderr; clean-up is
// best effort.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import type { Disk } from '../../core/model/inventory.ts';

export const sh = (cmd: string, args: string[], input?: string): string => execFileSync(cmd, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}), stdio: ['pipe', 'pipe', 'pipe'] });
export const trySh = (cmd: string, args: string[]): void => {
  try {
    sh(cmd, args);
  } catch { /* cleanup: best effort */ }
};

/** Loop devices over sparse files, as inventory disks; `detachAll` lets go of every one attached. */
export class LoopDisks {
  readonly #devices: string[] = [];

  attach(file: string, size: number): Disk {
    rmSync(file, { force: true });
    sh('truncate', ['-s', String(size), file]);
    const dev = sh('losetup', ['--find', '--show', file]).trim();
    this.#devices.push(dev);
    trySh('partx', ['-d', dev]); // partitions a previous user of this loop device left registered
    return { name: dev.slice(5), path: dev, sizeBytes: size, model: null, vendor: null, serial: null, wwn: null, rotational: false, removable: false, transport: null, byPath: null, hctl: null, logicalSectorBytes: 512, physicalSectorBytes: 512 };
  }

  /** Best effort: partitions unregistered, devices detached. */
  detachAll(): void {
    for (const l of this.#devices.splice(0)) {
      trySh('partx', ['-d', l]);
      trySh('losetup', ['-d', l]);
    }
  }
}

/** Unmounts everything under `dir`, children first; lazily only what stays busy (a lazy unmount keeps the filesystem in use). */
export function unmountAll(dir: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((d) => d === dir || d.startsWith(`${dir}/`));
  for (const m of mounts.reverse()) {
    let ok = false;
    for (let i = 0; i < 10 && !ok; i++) {
      try {
        sh('umount', [m]);
        ok = true;
      } catch {
        execFileSync('sleep', ['0.3']);
      }
    }
    if (!ok) trySh('umount', ['--lazy', m]);
  }
}

/**
 * Mounts `device` read-only at `dir`. The install's unmount step may have had to detach the target
 * lazily (a process still had it open, seen on a loaded machine): the filesystem stays in use until that
 * process ends, so wait up to 60 s, and fail naming the processes that hold it.
 */
export function mountWhenFree(device: string, dir: string): void {
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      sh('mount', ['-o', 'ro', device, dir]);
      return;
    } catch (e) {
      if (Date.now() > end) {
        const holders = (() => {
          try {
            return execFileSync('fuser', ['-vm', device], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
          } catch (f) {
            return String((f as { stderr?: unknown }).stderr ?? '');
          }
        })();
        throw new Error(`${device} still in use 60 s after the install unmounted it: ${(e as Error).message}\n${holders}`, { cause: e });
      }
      execFileSync('sleep', ['1']);
    }
  }
}

/** Pids whose command line mentions `text` (the killed debootstrap names its target). */
export function processesUsing(text: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(text);
    } catch {
      return false;
    }
  }).map(Number);
}
