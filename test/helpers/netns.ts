// Network namespaces, veth pairs and bridges for tests (DESIGN §6), with guaranteed cleanup.
// A Lab records everything it creates (namespaces, host-side links, processes) and its
// cleanup() removes all of it in reverse order, also after a failed step. Deleting a
// namespace deletes the links inside it; processes are started in their own process group
// (setsid) and stopped by group id, because `ip netns exec` forks.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import koffi from 'koffi';

export interface RunResult { stdout: string; stderr: string; code: number }

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A process started in a namespace, in its own process group. */
export interface NsProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export class Lab {
  readonly tag: string;
  private readonly namespaces: string[] = [];
  private readonly hostLinks: string[] = [];
  private readonly procs: NsProcess[] = [];
  private readonly cleanups: (() => void | Promise<void>)[] = [];

  /** `tag` makes names unique and recognisable, e.g. `dhcp`; the pid is added. */
  constructor(tag: string) {
    this.tag = `lpm-${tag}-${process.pid}`;
  }

  /** Creates a namespace named `<lpm-tag-pid>-<suffix>` with loopback up; returns its name. */
  netns(suffix: string): string {
    const name = `${this.tag}-${suffix}`;
    sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    this.exec(name, ['ip', 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** Runs a command in a namespace and returns stdout; throws with stderr on failure. */
  exec(ns: string, argv: string[]): string {
    return sh('ip', ['netns', 'exec', ns, ...argv]);
  }

  /** Runs a command in a namespace and returns its result without throwing. */
  tryExec(ns: string, argv: string[]): RunResult {
    try {
      return { stdout: this.exec(ns, argv), stderr: '', code: 0 };
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; status?: number };
      return { stdout: String(err.stdout ?? ''), stderr: String(err.stderr ?? ''), code: err.status ?? 1 };
    }
  }

  /**
   * Runs a command in a namespace without blocking the event loop (use this whenever a server in
   * this process must answer the command); resolves with its result, killing it after `timeoutMs`.
   */
  run(ns: string, argv: string[], timeoutMs = 30_000): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const t = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
      child.once('error', (e) => { clearTimeout(t); resolve({ stdout, stderr: stderr + String(e), code: -1 }); });
      child.once('close', (code) => { clearTimeout(t); resolve({ stdout, stderr, code: code ?? -1 }); });
    });
  }

  /**
   * A veth pair with one end in each namespace (`undefined` = host side, recorded for cleanup).
   * Names are limited to 15 characters by the kernel; pass short ones.
   */
  veth(a: { ns?: string; name: string; address?: string }, b: { ns?: string; name: string; address?: string }): void {
    const tmpA = `v${process.pid % 100000}a${this.hostLinks.length + this.namespaces.length}`;
    const tmpB = `v${process.pid % 100000}b${this.hostLinks.length + this.namespaces.length}`;
    sh('ip', ['link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB]);
    try {
      for (const [tmp, end] of [[tmpA, a], [tmpB, b]] as const) {
        if (end.ns) sh('ip', ['link', 'set', tmp, 'netns', end.ns]);
        const run = (argv: string[]): string => (end.ns ? this.exec(end.ns, argv) : sh(argv[0]!, argv.slice(1)));
        run(['ip', 'link', 'set', tmp, 'name', end.name]);
        if (!end.ns) this.hostLinks.push(end.name);
        if (end.address) run(['ip', 'addr', 'add', end.address, 'dev', end.name]);
        run(['ip', 'link', 'set', end.name, 'up']);
      }
    } catch (e) {
      for (const l of [tmpA, tmpB]) try { sh('ip', ['link', 'del', l]); } catch { /* moved or gone */ }
      throw e;
    }
  }

  /** A bridge inside a namespace, with the given member links (already in that namespace). */
  bridge(ns: string, name: string, members: string[], address?: string): void {
    this.exec(ns, ['ip', 'link', 'add', name, 'type', 'bridge']);
    if (address) this.exec(ns, ['ip', 'addr', 'add', address, 'dev', name]);
    for (const m of members) this.exec(ns, ['ip', 'link', 'set', m, 'master', name]);
    this.exec(ns, ['ip', 'link', 'set', name, 'up']);
  }

  /** Starts a long-running command in a namespace (own process group), collecting its output. */
  spawn(ns: string | undefined, argv: string[], opts: { env?: NodeJS.ProcessEnv } = {}): NsProcess {
    const full = ns ? ['ip', 'netns', 'exec', ns, ...argv] : argv;
    const child = spawn(full[0]!, full.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => { out += d.toString(); if (out.length > 1_000_000) out = out.slice(-500_000); });
    child.stderr?.on('data', (d: Buffer) => { out += d.toString(); if (out.length > 1_000_000) out = out.slice(-500_000); });
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(-1));
    });
    const pid = child.pid ?? -1;
    let stopped = false;
    const proc: NsProcess = {
      child, pid, exited,
      output: () => out,
      async stop(signal: NodeJS.Signals = 'SIGTERM') {
        if (stopped || pid < 0) return;
        stopped = true;
        try { process.kill(-pid, signal); } catch { /* already gone */ }
        const t = setTimeout(() => { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }, 2000);
        await exited;
        clearTimeout(t);
        // The group may outlive the leader (e.g. a daemonised child): make sure it is gone.
        try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
      },
    };
    this.procs.push(proc);
    return proc;
  }

  /** Registers an extra cleanup step (temp dirs, ...), run before namespaces are deleted. */
  defer(fn: () => void | Promise<void>): void {
    this.cleanups.push(fn);
  }

  /** Removes everything this lab created; safe to call more than once. */
  async cleanup(): Promise<void> {
    for (const p of this.procs.splice(0).reverse()) await p.stop().catch(() => undefined);
    for (const fn of this.cleanups.splice(0).reverse()) {
      try { await fn(); } catch { /* keep cleaning */ }
    }
    for (const l of this.hostLinks.splice(0)) try { sh('ip', ['link', 'del', l]); } catch { /* gone */ }
    for (const ns of this.namespaces.splice(0).reverse()) {
      // Processes still inside (started by something else) would keep the namespace's links alive.
      try { sh('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean).forEach((p) => { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }); } catch { /* gone */ }
      try { sh('ip', ['netns', 'del', ns]); } catch { /* gone */ }
    }
  }
}

/** Polls `fn` every `intervalMs` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, intervalMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// --- Running code inside a namespace from this process -------------------------------------------
// setns(2) switches the calling thread only. Sockets keep the namespace they were created in, so a
// test can create a socket inside a namespace synchronously and switch straight back: the event
// loop (this same thread) never runs in between.
const CLONE_NEWNET = 0x40000000;
let setnsFn: ((fd: number, nstype: number) => number) | undefined;

export function inNetns<T>(ns: string, fn: () => T): T {
  setnsFn ??= koffi.load('libc.so.6').func('int setns(int, int)') as (fd: number, nstype: number) => number;
  const self = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(`/var/run/netns/${ns}`, 'r');
  try {
    if (setnsFn(target, CLONE_NEWNET) !== 0) throw new Error(`setns into ${ns} failed (errno ${koffi.errno()})`);
    let r: T;
    try {
      r = fn();
    } finally {
      // Failing to switch back would leave the whole process in the test's namespace: stop hard.
      if (setnsFn(self, CLONE_NEWNET) !== 0) {
        process.stderr.write(`setns back from ${ns} failed (errno ${koffi.errno()})\n`);
        process.exit(70);
      }
    }
    if (r instanceof Promise) throw new Error('inNetns needs a synchronous function');
    return r;
  } finally {
    closeSync(target);
    closeSync(self);
  }
}
