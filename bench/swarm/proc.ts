// A worker process (seed or agent) in a network namespace, in its own process group, speaking JSON
// lines: commands to its stdin, messages from its stdout; stderr kept (the tail) for errors.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command, WorkerMessage } from './proto.ts';

export class Worker {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  #err = '';
  #waiters: { match: (m: WorkerMessage) => boolean; resolve: (m: WorkerMessage) => void }[] = [];
  #stopped = false;
  readonly name: string;

  constructor(name: string, ns: string, script: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = []) {
    this.name = name;
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...nodeArgs, script], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.pid = this.child.pid ?? -1;
    this.child.stdin!.on('error', () => undefined);
    this.child.stderr!.on('data', (d: Buffer) => {
      this.#err = (this.#err + d.toString()).slice(-20_000);
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let m: WorkerMessage;
      try {
        m = JSON.parse(line) as WorkerMessage;
      } catch {
        this.#err = (this.#err + line + '\n').slice(-20_000);
        return;
      }
      const w = this.#waiters.findIndex((x) => x.match(m));
      if (w >= 0) this.#waiters.splice(w, 1)[0]!.resolve(m);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code) => resolve(code));
      this.child.once('error', () => resolve(-1));
    });
  }

  /** The next message of these types; rejects when the process exits first or after `ms`. */
  next<T extends WorkerMessage>(types: T['type'][], ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ${types.join('/')} after ${ms / 1000} s\n${this.stderr()}`)), ms);
      const waiter = {
        match: (m: WorkerMessage) => types.includes(m.type),
        resolve: (m: WorkerMessage) => {
          clearTimeout(timer);
          resolve(m as T);
        },
      };
      this.#waiters.push(waiter);
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code})\n${this.stderr()}`));
      });
    });
  }

  send(c: Command): void {
    if (!this.child.stdin!.destroyed) this.child.stdin!.write(`${JSON.stringify(c)}\n`);
  }

  stderr(): string {
    return this.#err.split('\n').slice(-30).join('\n');
  }

  /** CPU time of the process (utime + stime from /proc), seconds; 0 when it is gone. */
  cpuSeconds(): number {
    try {
      const f = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return (Number(rest[11]) + Number(rest[12])) / 100;
    } catch {
      return 0;
    }
  }

  /** Peak resident memory (VmHWM), bytes; 0 when it is gone. */
  peakRss(): number {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  }

  /** Asks it to stop, then SIGTERM and SIGKILL to the group. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.#stopped || this.pid < 0) return;
    this.#stopped = true;
    this.send({ type: 'stop' });
    this.child.stdin!.end();
    const kill = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-this.pid, sig);
      } catch {
        // gone
      }
    };
    const term = setTimeout(() => kill('SIGTERM'), graceMs);
    const hard = setTimeout(() => kill('SIGKILL'), graceMs + 2000);
    await this.exited;
    clearTimeout(term);
    clearTimeout(hard);
    kill('SIGKILL');
  }
}
