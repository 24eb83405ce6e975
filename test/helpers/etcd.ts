// A throwaway etcd for tests: temp data dir, free loopback ports, fast timers (1 s leases stay
// 1 s), killed and removed by stop(). kill() + start() restarts it on the same data and ports.
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdProcess, type EtcdProcessOptions } from '../../store/etcd-process.ts';
import { freePorts } from '../../store/ports.ts';

export interface TestEtcdOptions {
  tls?: EtcdProcessOptions['tls'];
  /** Create dir and ports, start nothing: certificates go into `dir`, then enableTls(). */
  deferTls?: boolean;
  extraArgs?: string[];
}

/**
 * tmpfs when there is a roomy one: etcd fsyncs every write, which on a disk is most of a test's
 * time. Each etcd preallocates a 64 MiB WAL segment, so a small /dev/shm (containers: 64 MiB)
 * is not used.
 */
export function fastTempBase(): string {
  try {
    const st = statfsSync('/dev/shm');
    if (st.bavail * st.bsize > 1024 ** 3) return '/dev/shm';
  } catch {
    // no /dev/shm
  }
  return tmpdir();
}

export class TestEtcd {
  readonly dir: string;
  endpoints: string[];
  #options: EtcdProcessOptions;
  #proc: EtcdProcess | undefined;
  #stopped = false;

  private constructor(dir: string, options: EtcdProcessOptions, endpoints: string[]) {
    this.dir = dir;
    this.#options = options;
    this.endpoints = endpoints;
  }

  static async start(opts: TestEtcdOptions = {}): Promise<TestEtcd> {
    const dir = mkdtempSync(join(fastTempBase(), `lpmos-etcd-${process.pid}-`));
    const [client, peer, metrics] = await freePorts(3);
    const scheme = opts.tls || opts.deferTls ? 'https' : 'http';
    const clientUrl = `${scheme}://127.0.0.1:${client}`;
    const options: EtcdProcessOptions = {
      name: 'test',
      dataDir: join(dir, 'data'),
      listenClientUrls: [clientUrl],
      peerUrl: `http://127.0.0.1:${peer}`,
      metricsUrl: `http://127.0.0.1:${metrics}`,
      logFile: join(dir, 'etcd.log'),
      fastTimers: true,
      ...(opts.tls ? { tls: opts.tls } : {}),
      ...(opts.extraArgs ? { extraArgs: opts.extraArgs } : {}),
    };
    const etcd = new TestEtcd(dir, options, [clientUrl]);
    if (opts.deferTls) return etcd;
    try {
      await etcd.restart();
    } catch (e) {
      await etcd.stop();
      throw e;
    }
    return etcd;
  }

  /** Starts a deferTls etcd with these server certificate files. */
  async enableTls(tls: NonNullable<EtcdProcessOptions['tls']>): Promise<void> {
    this.#options = { ...this.#options, tls };
    await this.restart();
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Starts etcd (again) on the same data dir and ports; waits for /health. */
  async restart(timeoutMs = 20_000): Promise<void> {
    if (this.#stopped) throw new Error('test etcd was stopped');
    if (this.#proc?.running) throw new Error('etcd is still running');
    this.#proc = new EtcdProcess(this.#options);
    await this.#proc.waitHealthy(timeoutMs);
  }

  /** SIGKILL: a crash, no clean shutdown. */
  async kill(): Promise<void> {
    await this.#proc?.kill();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    try {
      await this.#proc?.stop(2000);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  logTail(): string {
    return this.#proc?.logTail(20) ?? '';
  }
}
