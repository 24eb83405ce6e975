// Running the real `lpmos` CLI (bin/lpmos.js) as a user would, and a real `lpmos seed` process.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const BIN = join(ROOT, 'bin', 'lpmos.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function lpmos(args: string[], opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, LPMOS_LOG_FORMAT: 'json', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** A `lpmos seed` child in its own process group; stop() ends it (SIGTERM, then SIGKILL to the group). */
export class SeedProcess {
  readonly stateDir: string;
  readonly child: ChildProcess;
  log = '';
  readonly exited: Promise<number | null>;

  constructor(stateDir: string, extra: string[] = []) {
    this.stateDir = stateDir;
    this.child = spawn(process.execPath, [BIN, 'seed', '--state-dir', stateDir, ...extra], {
      cwd: ROOT,
      env: { ...process.env, LPMOS_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child.stdout?.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  /** Waits for the seed to write its state file (it is ready then). */
  async ready(timeoutMs = 30_000): Promise<{ pid: number; etcd: { endpoints: string[] } }> {
    const file = join(this.stateDir, 'seed.json');
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`seed exited with ${this.child.exitCode}:\n${this.log}`);
      if (existsSync(file)) {
        const info = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; etcd: { endpoints: string[] } };
        if (info.pid === this.child.pid) return info;
      }
      await sleep(200);
    }
    throw new Error(`seed not ready after ${timeoutMs} ms:\n${this.log}`);
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      try {
        if (this.child.pid) process.kill(-this.child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, 15_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
