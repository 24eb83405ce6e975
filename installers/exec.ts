// Running one install command: argv (never a shell string), its own process group so an abort
// kills debootstrap together with the dpkg and maintainer scripts it started, LC_ALL=C so the
// output the probes parse is the same everywhere, and fd 3 for debootstrap's progress protocol.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, LpmosError } from '../core/errors.ts';

export interface ExecOptions {
  signal: AbortSignal;
  input?: string;
  env?: Record<string, string>;
  /** Each line of fd 3 (debootstrap --debian-installer); fd 3 is opened only when given. */
  onFd3Line?: (line: string) => void;
  /** Each line of stderr+stdout as it comes (logging). */
  onLine?: (line: string) => void;
  /** SIGTERM → SIGKILL grace on abort. */
  killAfterMs?: number;
}

let recordDir: string | undefined;

/**
 * Records the process group of every command started from now on as a file `<dir>/<pgid>`, removed
 * when it ends: an agent killed hard (SIGKILL, OOM) leaves debootstrap running, and the agent that
 * starts next ends those groups before it resumes the plan (agent/leftovers.ts). Off by default.
 */
export function recordProcessGroups(dir: string | undefined): void {
  recordDir = dir;
  if (dir) mkdirSync(dir, { recursive: true });
}

export interface ExecResult { code: number; stdout: string; stderr: string }

const KEEP = 64 * 1024; // output kept for errors and probes; debootstrap writes megabytes

function lines(onLine: ((l: string) => void) | undefined): (chunk: Buffer) => void {
  let rest = '';
  return (chunk) => {
    if (!onLine) return;
    rest += chunk.toString('utf8');
    const parts = rest.split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) onLine(p);
  };
}

export function execCommand(argv: string[], opts: ExecOptions): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new LpmosError(ErrorCode.Internal, 'empty command'));
  if (opts.signal.aborted) return Promise.reject(abortError(argv, opts.signal));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      detached: true, // own process group: kill(-pid) reaches every child
      env: { ...process.env, PATH: `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ''}`, LC_ALL: 'C', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe', ...(opts.onFd3Line ? (['pipe'] as const) : [])],
    });
    const record = recordDir && child.pid ? join(recordDir, String(child.pid)) : undefined;
    if (record) {
      try {
        writeFileSync(record, argv.join(' ').slice(0, 200));
      } catch { /* best effort: only a hard kill makes it matter */ }
    }
    let stdout = '';
    let stderr = '';
    const out = lines(opts.onLine);
    const err = lines(opts.onLine);
    child.stdout.on('data', (c: Buffer) => { stdout = (stdout + c.toString('utf8')).slice(-KEEP); out(c); });
    child.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString('utf8')).slice(-KEEP); err(c); });
    const fd3 = child.stdio[3];
    if (fd3 && opts.onFd3Line && 'on' in fd3) fd3.on('data', lines(opts.onFd3Line));
    child.stdin.on('error', () => undefined); // a command that does not read stdin closes it early
    child.stdin.end(opts.input ?? '');

    let killTimer: NodeJS.Timeout | undefined;
    const kill = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch { /* already gone */ }
    };
    const onAbort = (): void => {
      kill('SIGTERM');
      killTimer = setTimeout(() => kill('SIGKILL'), opts.killAfterMs ?? 3000);
    };
    opts.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      opts.signal.removeEventListener('abort', onAbort);
      reject(new LpmosError(ErrorCode.Unavailable, `${cmd}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, sig) => {
      if (record) rmSync(record, { force: true });
      opts.signal.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (opts.signal.aborted) {
        kill('SIGKILL'); // children that ignored SIGTERM
        reject(abortError(argv, opts.signal));
        return;
      }
      resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr });
    });
  });
}

function abortError(argv: string[], signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new LpmosError(ErrorCode.Timeout, `${argv[0] ?? ''} was stopped: ${String(reason ?? 'aborted')}`);
}

/** Runs and fails with the command's last output lines when the exit code is not accepted. */
export async function mustRun(argv: string[], opts: ExecOptions & { okCodes?: number[] }): Promise<ExecResult> {
  const r = await execCommand(argv, opts);
  if (!(opts.okCodes ?? [0]).includes(r.code)) {
    const tail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-8).join('\n');
    throw new LpmosError(ErrorCode.Internal, `${argv.join(' ')} failed (exit ${r.code})${tail ? `:\n${tail}` : ''}`);
  }
  return r;
}
