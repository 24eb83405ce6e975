// Runs an external tool (apt-get, dpkg-deb, mmdebstrap, cpio …) and turns failure into an LpmosError
// that names the command and carries the tail of its stderr.
import { spawn } from 'node:child_process';
import { ErrorCode, LpmosError } from '../core/errors.ts';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Bytes written to the child's stdin. */
  input?: string | Buffer;
  /** Called with each chunk of stderr (progress output of long builds). */
  onStderr?: (chunk: string) => void;
  /** Error code when the tool exits non-zero; default E_INTERNAL. */
  errorCode?: ErrorCode;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

const TAIL = 2000;

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      signal: opts.signal,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      const s = b.toString('utf8');
      err = (err + s).slice(-64 * 1024);
      opts.onStderr?.(s);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError') {
        reject(new LpmosError(ErrorCode.Timeout, `${cmd} aborted`, { cause: e }));
      } else if (e.code === 'ENOENT') {
        reject(new LpmosError(ErrorCode.Unavailable, `${cmd} is not installed (see scripts/apt-packages.txt)`, { cause: e }));
      } else {
        reject(new LpmosError(ErrorCode.Internal, `${cmd} failed to start: ${e.message}`, { cause: e }));
      }
    });
    child.on('close', (code, sig) => {
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) {
        resolve({ stdout, stderr: err });
        return;
      }
      const why = sig ? `killed by ${sig}` : `exit ${code}`;
      reject(new LpmosError(opts.errorCode ?? ErrorCode.Internal, `${cmd} ${args.join(' ')} failed (${why})`, {
        details: [{ message: err.trim().slice(-TAIL) || '(no stderr)' }],
      }));
    });
    child.stdin.on('error', () => { /* the child may exit before reading its input */ });
    child.stdin.end(opts.input ?? '');
  });
}
