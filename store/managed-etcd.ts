// The seed's embedded etcd (DESIGN §1): a private single-node etcd under <stateDir>/etcd,
// on loopback ports chosen once and kept in <stateDir>/etcd/ports.json (reused while free, so
// clients and the data dir's member URLs stay stable), supervised: if it dies it is restarted
// with exponential backoff; stop() sends SIGTERM, then SIGKILL after a grace period.
import { mkdirSync, readFileSync, writeFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LpmosError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import { DEFAULT_ETCD_BINARY, EtcdProcess, type EtcdProcessOptions } from './etcd-process.ts';
import { freePort, isPortFree } from './ports.ts';

export interface ManagedEtcdOptions {
  stateDir: string;
  /** etcd binary (default /usr/bin/etcd from Debian's etcd-server). */
  binary?: string;
  /** Extra client listen URLs, e.g. `http://10.0.0.1:2379` on the provisioning network. */
  extraClientUrls?: string[];
  logger?: Logger;
  /** How long start() waits for /health (default 30 s). */
  startTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace on stop() (default 10 s). */
  stopGraceMs?: number;
  /** History kept for watchers that reconnect (etcd --auto-compaction-retention, default 1h). */
  compactionRetention?: string;
  /** Restart backoff bounds in ms (default 500 → 30 000). */
  restartBackoffMs?: { min: number; max: number };
  /** Short raft timers (tests). */
  fastTimers?: boolean;
}

/** --max-txn-ops of the managed etcd; the seed records it so the CLI knows how much one apply may hold. */
export const MANAGED_MAX_TXN_OPS = 4096;

interface Ports {
  client: number;
  peer: number;
}

export class ManagedEtcd {
  readonly dir: string;
  readonly #opts: ManagedEtcdOptions;
  readonly #log: Logger;
  #ports: Ports | undefined;
  #proc: EtcdProcess | undefined;
  #stopping = false;
  #started = false;
  /** Set once start() has seen etcd healthy: from then on, a dead etcd is restarted. */
  #supervise = false;
  #restarts = 0;
  #backoff: number;
  #restartTimer: NodeJS.Timeout | undefined;
  #supervising: Promise<void> | undefined;

  constructor(opts: ManagedEtcdOptions) {
    this.#opts = opts;
    this.dir = join(opts.stateDir, 'etcd');
    this.#log = (opts.logger ?? silentLogger()).child({ component: 'managed-etcd' });
    this.#backoff = opts.restartBackoffMs?.min ?? 500;
  }

  /** Loopback client URL(s) to give to openStore(); valid after start(). */
  get clientUrls(): string[] {
    if (!this.#ports) throw new LpmosError('E_INTERNAL', 'managed etcd not started');
    return [`http://127.0.0.1:${this.#ports.client}`];
  }

  get ports(): Ports | undefined {
    return this.#ports ? { ...this.#ports } : undefined;
  }

  /** PID of the current etcd child (tests kill it to exercise the supervisor). */
  get pid(): number | undefined {
    return this.#proc?.running ? this.#proc.pid : undefined;
  }

  /** How many times the supervisor restarted etcd after it died. */
  get restarts(): number {
    return this.#restarts;
  }

  get logFile(): string {
    return join(this.dir, 'etcd.log');
  }

  async start(signal?: AbortSignal): Promise<void> {
    if (this.#started) throw new LpmosError('E_INTERNAL', 'managed etcd already started');
    signal?.throwIfAborted();
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    rotateLog(this.logFile);
    this.#ports = await this.#choosePorts();
    this.#stopping = false;
    this.#started = true;
    try {
      await this.#launch(signal);
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.#supervise = true;
    this.#log.info({ clientUrls: this.clientUrls, extra: this.#opts.extraClientUrls ?? [], pid: this.pid }, 'managed etcd ready');
  }

  async #choosePorts(): Promise<Ports> {
    const file = join(this.dir, 'ports.json');
    let saved: Partial<Ports> = {};
    try {
      saved = JSON.parse(readFileSync(file, 'utf8')) as Partial<Ports>;
    } catch {
      // first start, or an unreadable file: choose new ports
    }
    const reuse = async (p: unknown): Promise<number | undefined> =>
      typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 65536 && (await isPortFree(p)) ? p : undefined;
    const client = (await reuse(saved.client)) ?? (await freePort());
    let peer = (await reuse(saved.peer)) ?? (await freePort());
    while (peer === client) peer = await freePort();
    if (saved.client !== undefined && saved.client !== client) {
      this.#log.warn({ was: saved.client, now: client }, 'saved etcd client port is taken; using a new one');
    }
    const ports = { client, peer };
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(ports)}\n`);
    renameSync(tmp, file);
    return ports;
  }

  #processOptions(): EtcdProcessOptions {
    const ports = this.#ports as Ports;
    const local = `http://127.0.0.1:${ports.client}`;
    return {
      name: 'lpmos-seed',
      dataDir: join(this.dir, 'data'),
      listenClientUrls: [local, ...(this.#opts.extraClientUrls ?? [])],
      advertiseClientUrls: [local, ...(this.#opts.extraClientUrls ?? [])],
      peerUrl: `http://127.0.0.1:${ports.peer}`,
      logFile: this.logFile,
      binary: this.#opts.binary ?? DEFAULT_ETCD_BINARY,
      fastTimers: this.#opts.fastTimers ?? false,
      extraArgs: [
        '--auto-compaction-mode=periodic',
        `--auto-compaction-retention=${this.#opts.compactionRetention ?? '1h'}`,
        // A rack applied from one file is one transaction (all or nothing); etcd's default of 128
        // operations would cap that at ~25 machines.
        `--max-txn-ops=${MANAGED_MAX_TXN_OPS}`,
      ],
    };
  }

  async #launch(signal?: AbortSignal): Promise<void> {
    const proc = new EtcdProcess(this.#processOptions());
    this.#proc = proc;
    this.#supervising = proc.exited.then(({ code, signal: sig }) => this.#onExit(proc, code, sig));
    await proc.waitHealthy(this.#opts.startTimeoutMs ?? 30_000, signal);
  }

  #onExit(proc: EtcdProcess, code: number | null, sig: NodeJS.Signals | null): void {
    // Before start() succeeded, start() itself reports the failure.
    if (this.#stopping || !this.#supervise || proc !== this.#proc) return;
    const delay = this.#backoff;
    const max = this.#opts.restartBackoffMs?.max ?? 30_000;
    this.#backoff = Math.min(this.#backoff * 2, max);
    this.#log.error({ code, signal: sig, restartInMs: delay, log: this.logFile, tail: proc.logTail(5) }, 'managed etcd died; restarting');
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#stopping) return;
      this.#restarts++;
      this.#launch().then(() => {
        this.#backoff = this.#opts.restartBackoffMs?.min ?? 500;
        this.#log.info({ pid: this.pid, restarts: this.#restarts }, 'managed etcd restarted');
      }, (e: unknown) => {
        // The failed child's exit schedules the next attempt; a child that hangs unhealthy is killed.
        this.#log.error({ err: (e as Error).message }, 'managed etcd restart failed');
        if (this.#proc?.running) void this.#proc.kill();
      });
    }, delay);
  }

  /** Resolves once the supervisor has a healthy etcd again (tests, and callers after a crash). */
  async waitHealthy(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      const proc = this.#proc;
      if (proc?.running) {
        try {
          await proc.waitHealthy(Math.max(1, deadline - Date.now()), signal);
          return;
        } catch (e) {
          if (proc.running) throw e;
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new LpmosError('E_UNAVAILABLE', `managed etcd not healthy within ${timeoutMs} ms; log: ${this.logFile}`);
  }

  /** Stops supervision and etcd: SIGTERM, SIGKILL after the grace period. */
  async stop(signal?: AbortSignal): Promise<void> {
    this.#stopping = true;
    this.#started = false;
    this.#supervise = false;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    const proc = this.#proc;
    if (!proc) return;
    const grace = signal?.aborted ? 0 : (this.#opts.stopGraceMs ?? 10_000);
    const onAbort = (): void => void proc.kill();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await proc.stop(grace);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    await this.#supervising;
    this.#log.info('managed etcd stopped');
  }
}

const LOG_ROTATE_BYTES = 16 * 1024 * 1024;

/** One old generation is enough to see why etcd died last time; the seed is long-lived. */
function rotateLog(file: string): void {
  try {
    if (statSync(file).size > LOG_ROTATE_BYTES) renameSync(file, `${file}.1`);
  } catch {
    // no log yet
  }
}
