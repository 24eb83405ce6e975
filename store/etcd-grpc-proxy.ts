// In front of an external etcd cluster the seed runs `etcd grpc-proxy` on the provisioning
// address (issue 5): agents reach etcd through the seed, the cluster stays off the provisioning
// network, and the proxy coalesces the agents' identical watches into one upstream watch. The
// proxy is supervised as the managed etcd is: restarted with backoff if it dies, SIGTERM then
// SIGKILL on stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { LpmosError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import { openStore } from './connect.ts';
import { DEFAULT_ETCD_BINARY } from './etcd-process.ts';

export interface GrpcProxyOptions {
  /** The cluster's client URLs (`--etcd`). */
  endpoints: string[];
  /** host:port the proxy listens on (the provisioning address). */
  listen: string;
  /** TLS towards the cluster. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  logFile: string;
  binary?: string;
  logger?: Logger;
  startTimeoutMs?: number;
}

/** Pure: the proxy's command line. */
export function grpcProxyArgs(o: GrpcProxyOptions): string[] {
  const args = ['grpc-proxy', 'start', `--endpoints=${o.endpoints.map((u) => u.replace(/^https?:\/\//, '')).join(',')}`, `--listen-addr=${o.listen}`, `--advertise-client-url=${o.listen}`];
  if (o.tls?.caFile) args.push(`--cacert=${o.tls.caFile}`);
  if (o.tls?.certFile) args.push(`--cert=${o.tls.certFile}`);
  if (o.tls?.keyFile) args.push(`--key=${o.tls.keyFile}`);
  return args;
}

export class EtcdGrpcProxy {
  readonly #o: GrpcProxyOptions;
  readonly #log: Logger;
  #child: ChildProcess | undefined;
  #stopping = false;
  #timer: NodeJS.Timeout | undefined;
  #backoff = 500;
  restarts = 0;

  constructor(o: GrpcProxyOptions) {
    this.#o = o;
    this.#log = (o.logger ?? silentLogger()).child({ component: 'etcd-grpc-proxy' });
  }

  /** The URL agents are given. */
  get url(): string {
    return `http://${this.#o.listen}`;
  }

  get pid(): number | undefined {
    return this.#child?.exitCode === null ? this.#child.pid : undefined;
  }

  #spawn(): ChildProcess {
    mkdirSync(dirname(this.#o.logFile), { recursive: true });
    const fd = openSync(this.#o.logFile, 'a');
    try {
      const child = spawn(this.#o.binary ?? DEFAULT_ETCD_BINARY, grpcProxyArgs(this.#o), { stdio: ['ignore', fd, fd] });
      const onParentExit = (): void => void child.kill('SIGTERM');
      process.once('exit', onParentExit);
      child.once('exit', (code, signal) => {
        process.removeListener('exit', onParentExit);
        if (this.#stopping || this.#child !== child) return;
        this.#log.warn({ code, signal, retryInMs: this.#backoff }, 'etcd grpc-proxy died; restarting');
        this.#timer = setTimeout(() => {
          this.restarts++;
          this.#child = this.#spawn();
        }, this.#backoff);
        this.#backoff = Math.min(this.#backoff * 2, 30_000);
      });
      child.once('error', (e) => this.#log.error({ err: e.message }, 'cannot run etcd grpc-proxy'));
      return child;
    } finally {
      closeSync(fd);
    }
  }

  /** Starts the proxy and waits until a request through it reaches the cluster. */
  async start(signal?: AbortSignal): Promise<void> {
    this.#child = this.#spawn();
    const deadline = Date.now() + (this.#o.startTimeoutMs ?? 30_000);
    let last: unknown;
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      if (this.#child.exitCode !== null) break;
      try {
        const store = await openStore({ endpoints: [this.url], timeoutMs: 2000 });
        await store.close();
        this.#backoff = 500;
        this.#log.info({ listen: this.#o.listen, endpoints: this.#o.endpoints }, 'etcd grpc-proxy ready');
        return;
      } catch (e) {
        last = e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await this.stop();
    throw new LpmosError('E_UNAVAILABLE', `etcd grpc-proxy on ${this.#o.listen} did not reach ${this.#o.endpoints.join(', ')} (${(last as Error | undefined)?.message ?? 'exited'}); log: ${this.#logTail()}`);
  }

  async stop(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(t);
  }

  #logTail(): string {
    try {
      return readFileSync(this.#o.logFile, 'utf8').trimEnd().split('\n').slice(-5).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
