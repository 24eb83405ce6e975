// Running one inventory tool: bounded in time, never throwing. A missing tool, a timeout or a
// failure becomes a reason the collector records, so one broken tool costs one field, not the
// whole inventory.
import { execFile } from 'node:child_process';

export type ToolResult =
  | { ok: true; stdout: string; stderr: string; exitCode: number }
  | { ok: false; reason: string };

export interface RunOptions {
  signal?: AbortSignal;
  timeoutMs: number;
  /** Environment for the child (tests point PATH at a directory of their own). */
  env?: NodeJS.ProcessEnv;
  /** Exit codes that still mean an answer (systemd-detect-virt exits 1 for "none"). */
  okExitCodes?: readonly number[];
}

interface ExecError extends Error {
  code?: string | number | null;
  killed?: boolean;
  signal?: NodeJS.Signals | null;
}

export function runTool(cmd: string, args: readonly string[], opts: RunOptions): Promise<ToolResult> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve({ ok: false, reason: timeout.aborted ? `timed out after ${opts.timeoutMs} ms` : 'aborted' });
      return;
    }
    execFile(
      cmd,
      [...args],
      // SIGKILL: a tool past its limit (dmidecode on a wedged BMC, lspci on a broken bus) gets no second chance
      { signal, killSignal: 'SIGKILL', env: opts.env ?? process.env, maxBuffer: 32 * 1024 * 1024, encoding: 'utf8', windowsHide: true },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ ok: true, stdout, stderr, exitCode: 0 });
          return;
        }
        const e = err as ExecError;
        if (e.code === 'ENOENT') resolve({ ok: false, reason: 'not installed' });
        else if (e.name === 'AbortError' || signal.aborted) resolve({ ok: false, reason: timeout.aborted ? `timed out after ${opts.timeoutMs} ms` : 'aborted' });
        else if (typeof e.code === 'number' && (opts.okExitCodes ?? []).includes(e.code)) resolve({ ok: true, stdout, stderr, exitCode: e.code });
        else {
          const why = (stderr || e.message).trim().split('\n').filter((l) => l.trim() !== '').slice(-1)[0] ?? e.message;
          resolve({ ok: false, reason: typeof e.code === 'number' ? `exit ${e.code}: ${why}` : why });
        }
      },
    );
  });
}
