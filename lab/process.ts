// Long-running lab processes (QEMU, the seed): each in its own process group, optionally inside a
// network namespace. `ip netns exec` may fork, so the pid we get is not always the server's own
// (LAB-NOTES): we stop the whole group — SIGTERM, then SIGKILL after a grace period — never by name.
import { spawn, type ChildProcess } from 'node:child_process';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LabProcess {
  readonly child: ChildProcess;
  /** Process group id (= pid of the leader). */
  readonly pid: number;
  /** Resolves when the leader exits (never rejects). */
  readonly exited: Promise<ExitStatus>;
  readonly running: boolean;
  /** Last ~64 KiB of stdout+stderr. */
  output(): string;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when the leader is gone. */
  stop(graceMs?: number): Promise<ExitStatus>;
}

const KEEP = 64 * 1024;

export interface SpawnOptions {
  netns?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

export function spawnGroup(argv: readonly string[], opts: SpawnOptions = {}): LabProcess {
  const full = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...argv] : [...argv];
  const child = spawn(full[0]!, full.slice(1), {
    detached: true, // setsid(): its own process group
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  let out = '';
  const add = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 2 * KEEP) out = out.slice(-KEEP);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  let running = true;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
    child.once('error', (e) => {
      running = false;
      add(Buffer.from(`\nspawn ${full[0]} failed: ${e.message}\n`));
      resolve({ code: -1, signal: null });
    });
  });
  const pid = child.pid ?? -1;
  return {
    child,
    pid,
    exited,
    get running() {
      return running;
    },
    output: () => out.slice(-KEEP),
    async stop(graceMs = 5000) {
      if (pid > 0) {
        killGroup(pid, 'SIGTERM');
        const t = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
        const status = await exited;
        clearTimeout(t);
        // Children may outlive the leader in the same group: they go too.
        killGroup(pid, 'SIGKILL');
        return status;
      }
      return exited;
    },
  };
}

/** Whether a process exists (signal 0); EPERM means it exists but is someone else's. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
