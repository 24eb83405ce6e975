// One etcd server process: its command line, its log file, waiting for /health, stopping it.
// Supervision (restart with backoff) lives in managed-etcd.ts; tests use this directly.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { LpmosError } from '../core/errors.ts';

export const DEFAULT_ETCD_BINARY = '/usr/bin/etcd';

export interface EtcdProcessOptions {
  binary?: string;
  name: string;
  dataDir: string;
  /** URLs etcd listens on for clients; the first is advertised. */
  listenClientUrls: string[];
  advertiseClientUrls?: string[];
  /** Peer URL of this single member (loopback; nobody joins). */
  peerUrl: string;
  /** Plain-HTTP URL serving /health and /metrics (lets TLS-only clusters be probed). */
  metricsUrl?: string;
  /** etcd's own stdout/stderr go here (appended). */
  logFile: string;
  tls?: { certFile: string; keyFile: string; trustedCaFile?: string; clientCertAuth?: boolean };
  /** Short heartbeat/election timings: a lease TTL of 1 s stays 1 s (tests). */
  fastTimers?: boolean;
  /** e.g. `--auto-compaction-retention=1h`. */
  extraArgs?: string[];
}

export function etcdArgs(o: EtcdProcessOptions): string[] {
  const args = [
    `--name=${o.name}`,
    `--data-dir=${o.dataDir}`,
    `--listen-client-urls=${o.listenClientUrls.join(',')}`,
    `--advertise-client-urls=${(o.advertiseClientUrls ?? o.listenClientUrls.slice(0, 1)).join(',')}`,
    `--listen-peer-urls=${o.peerUrl}`,
    `--initial-advertise-peer-urls=${o.peerUrl}`,
    `--initial-cluster=${o.name}=${o.peerUrl}`,
    '--initial-cluster-state=new',
    '--logger=zap',
    '--log-outputs=stderr',
  ];
  if (o.metricsUrl) args.push(`--listen-metrics-urls=${o.metricsUrl}`);
  if (o.tls) {
    args.push(`--cert-file=${o.tls.certFile}`, `--key-file=${o.tls.keyFile}`);
    if (o.tls.trustedCaFile) args.push(`--trusted-ca-file=${o.tls.trustedCaFile}`);
    if (o.tls.clientCertAuth) args.push('--client-cert-auth');
  }
  // etcd's minimum lease TTL is 1.5 election timeouts; 10/100 ms keeps it under 1 s.
  if (o.fastTimers) args.push('--heartbeat-interval=10', '--election-timeout=100');
  return [...args, ...(o.extraArgs ?? [])];
}

export class EtcdProcess {
  readonly options: EtcdProcessOptions;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exitedNow = false;
  #spawnError: Error | undefined;

  constructor(options: EtcdProcessOptions) {
    this.options = options;
    mkdirSync(dirname(options.logFile), { recursive: true });
    mkdirSync(dirname(options.dataDir), { recursive: true });
    const fd = openSync(options.logFile, 'a');
    try {
      this.child = spawn(options.binary ?? DEFAULT_ETCD_BINARY, etcdArgs(options), {
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    // If this process exits without stop() (crash, process.exit), do not leave etcd behind.
    const onParentExit = (): void => void this.child.kill('SIGTERM');
    process.once('exit', onParentExit);
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.#spawnError = err;
        this.#exitedNow = true;
        process.removeListener('exit', onParentExit);
        resolve({ code: -1, signal: null });
      });
      this.child.once('exit', (code, signal) => {
        this.#exitedNow = true;
        process.removeListener('exit', onParentExit);
        resolve({ code, signal });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.#exitedNow;
  }

  healthUrl(): string {
    const base = this.options.metricsUrl ?? this.options.listenClientUrls.find((u) => u.startsWith('http:'));
    if (!base) throw new LpmosError('E_USAGE', 'etcd health needs a plain-HTTP client or metrics URL');
    return `${base.replace(/\/$/, '')}/health`;
  }

  /** Polls /health until etcd has a leader and answers, the process exits, or the time is up. */
  async waitHealthy(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const url = this.healthUrl();
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      if (!this.running) {
        await this.exited;
        if (this.#spawnError) {
          throw new LpmosError('E_UNAVAILABLE', `cannot run etcd (${this.options.binary ?? DEFAULT_ETCD_BINARY}): ${this.#spawnError.message}`);
        }
        throw new LpmosError('E_UNAVAILABLE', `etcd exited during start-up; last log lines:\n${this.logTail()}`);
      }
      try {
        const res = await fetch(url, { signal: AbortSignal.any([AbortSignal.timeout(1000), ...(signal ? [signal] : [])]) });
        const body = await res.text();
        if (res.ok && /"health"\s*:\s*"true"/.test(body)) return;
        last = `${res.status} ${body.trim()}`;
      } catch (e) {
        signal?.throwIfAborted();
        last = (e as Error).message;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new LpmosError('E_UNAVAILABLE', `etcd at ${url} not healthy after ${timeoutMs} ms (${last}); log: ${this.options.logFile}`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Immediate SIGKILL (tests of crash recovery). */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  logTail(lines = 10): string {
    try {
      return readFileSync(this.options.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
