// The seed's HTTP server (DESIGN §1, §3): boot scripts per machine, artifacts, health, metrics.
// node:http at the edge; one handler per route (routes/); every error is translated here, once,
// to a status (core/errors.ts httpStatus) and a plain-text message naming the problem. One JSON
// access-log line per request. A bad request — malformed HTTP, a bad URL, a handler that throws —
// is answered or dropped and counted; it never takes the server down.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { ErrorCode, formatError, httpStatus, isLpmosError, LpmosError } from '../../core/errors.ts';
import type { Keys } from '../../core/keys.ts';
import type { Logger } from '../../core/log.ts';
import type { Store } from '../../core/store/store.ts';
import { ArtifactIndex } from './artifacts.ts';
import type { ScriptEnv } from './boot-scripts.ts';
import { httpConfigSchema, httpFlag, type HttpConfig, type HttpConfigInput } from './config.ts';
import { HttpError, sendBody, sendJson, type HttpApp, type HttpContext } from './context.ts';
import { HttpMetrics } from './metrics.ts';
import { route } from './router.ts';
import type { MirrorCache } from '../mirror/cache.ts';
import type { BootOffload } from '../offload.ts';
import type { RootImageBuilds } from '../rootfs/builds.ts';

export interface HttpDeps {
  logger: Logger;
  store: Store;
  keys: Keys;
  site: string;
  /** Key prefix of the store (`/lpmos/`), told to agents with the site. */
  prefix: string;
  /** The seed's etcd endpoints, given to agents unless the config names others (agentEtcd). */
  etcdEndpoints: readonly string[];
  /** The package mirror served under /mirror/. */
  mirror?: MirrorCache;
  /** Boot-storm offload: the agent kernel and ramdisk from agents that hold them. */
  offload?: BootOffload;
  /** Root images served under /rootfs (built from the mirror). */
  rootfs?: RootImageBuilds;
}

const BASE = 'http://seed.invalid';
/** The largest request body announced that is still drained (API bodies are tiny: `{}`). */
const MAX_BODY_BYTES = 64 * 1024;

export class HttpServer {
  readonly config: HttpConfig;
  readonly metrics = new HttpMetrics();
  readonly artifacts: ArtifactIndex;
  readonly #deps: HttpDeps;
  readonly #app: HttpApp;
  readonly #stop = new AbortController();
  #server: Server | undefined;

  constructor(config: HttpConfig, deps: HttpDeps) {
    this.config = config;
    this.#deps = deps;
    this.artifacts = new ArtifactIndex(config.artifacts);
    const etcd = config.agentEtcd ?? deps.etcdEndpoints;
    if (etcd.length === 0) throw new LpmosError(ErrorCode.Usage, '--agent-etcd: no etcd endpoint to give the agents');
    const offload = deps.offload;
    if (offload) this.metrics.collectors.push(() => offload.render());
    this.#app = {
      store: deps.store,
      keys: deps.keys,
      artifacts: this.artifacts,
      ...(deps.mirror ? { mirror: deps.mirror } : {}),
      ...(deps.offload ? { offload: deps.offload } : {}),
      ...(deps.rootfs ? { rootfs: deps.rootfs } : {}),
      metrics: this.metrics,
      log: deps.logger,
      agent: { kernel: config.agentKernel, initrd: config.agentInitrd },
      scriptEnv: (req) => this.#scriptEnv(req, etcd),
    };
  }

  /** The seed URL a client is told: the configured one, else the address and port it connected to. */
  #seedUrl(req: IncomingMessage): string {
    if (this.config.publicUrl) return this.config.publicUrl.replace(/\/+$/, '');
    let host = (req.socket.localAddress ?? this.config.address).replace(/^::ffff:(?=\d+\.)/, '');
    if (host.includes(':')) host = `[${host}]`;
    return `http://${host}:${req.socket.localPort ?? this.port}`;
  }

  /**
   * The ramdisk's stage 0 for iPXE on BIOS, only with boot offload on: it exists so that agents keep the
   * ramdisk to serve it; without offload it would only cost each boot time and the agent memory. Only
   * a stage 0 from the ramdisk's own build directory: it knows that ramdisk's layer sizes.
   */
  #stage0(): string | undefined {
    const name = this.config.agentStage0;
    const s = this.artifacts.byName(name);
    const i = this.artifacts.byName(this.config.agentInitrd);
    return this.#deps.offload?.on && s && i && s.root === i.root ? name : undefined;
  }

  #scriptEnv(req: IncomingMessage, etcd: readonly string[]): ScriptEnv {
    const c = this.config;
    return { seedUrl: this.#seedUrl(req), etcd, site: this.#deps.site, prefix: this.#deps.prefix, swarmBootstrap: c.swarmBootstrap, agentKernel: c.agentKernel, agentInitrd: c.agentInitrd, agentStage0: this.#stage0(), console: c.console, cmdline: c.cmdline };
  }

  async start(): Promise<void> {
    await this.artifacts.load();
    const server = createServer({ headersTimeout: this.config.headersTimeoutMs, requestTimeout: 0 }, (req, res) => void this.#handle(req, res));
    // Node's 5 s keep-alive is shorter than an emulated or busy agent takes to reuse a socket: its next
    // request then meets a socket the seed just closed ("socket hang up", seen under TCG on piece and
    // root image requests). Idle sockets cost the seed little; 30 s covers the slow clients.
    server.keepAliveTimeout = 30_000;
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // A client that hung up mid-request is no bad request: nothing to answer.
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      // Malformed HTTP (bad request line, oversized headers, header timeout): answer once and hang up.
      this.metrics.request('bad_request', 400, 0);
      this.#deps.logger.info({ client: socket.remoteAddress, code: err.code }, 'http: malformed request');
      if (socket.writable && !socket.writableEnded) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    server.listen({ host: this.config.address, port: this.config.port, exclusive: true });
    try {
      await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e as Error))]);
    } catch (e) {
      server.close();
      throw new LpmosError(ErrorCode.Unavailable, `http: cannot listen on --http-address ${this.config.address} --http-port ${this.config.port}: ${(e as Error).message}`, { cause: e });
    }
    server.on('error', (e) => this.#deps.logger.warn({ err: e }, 'http: server error'));
    this.#server = server;
    this.#deps.logger.info({ address: this.config.address, port: this.port, artifacts: this.artifacts.size }, 'http server listening');
  }

  /** The boot-storm offload, when the seed gave one. */
  get offload(): BootOffload | undefined {
    return this.#deps.offload;
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    const a = this.#server?.address();
    return a && typeof a === 'object' ? a.port : this.config.port;
  }

  /** Stops accepting, aborts requests in progress, closes every connection. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    this.#stop.abort();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    this.#deps.logger.info('http server stopped');
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const abort = new AbortController();
    const onStop = () => abort.abort();
    this.#stop.signal.addEventListener('abort', onStop, { once: true });
    const ctx: HttpContext = { req, res, url: new URL(BASE), signal: abort.signal, bytes: 0 };
    let name = 'not_found';
    let json = false;
    this.metrics.inFlight++;
    res.once('close', () => {
      this.metrics.inFlight--;
      this.#stop.signal.removeEventListener('abort', onStop);
      if (!res.writableFinished) abort.abort(); // the client went away
      this.metrics.request(name, res.statusCode, ctx.bytes);
      this.#deps.logger.info({ method: req.method, path: req.url, route: name, status: res.statusCode, bytes: ctx.bytes, ms: Math.round(performance.now() - started), client: req.socket.remoteAddress, range: req.headers.range, complete: res.writableFinished }, 'http request');
    });
    req.resume(); // no route reads a body (a first-boot report's is `{}`): drain it so keep-alive works
    try {
      const target = req.url ?? '';
      // Origin form only (RFC 9112 §3.2.1); `//host/…` must not turn into another host.
      if (!target.startsWith('/')) throw new LpmosError(ErrorCode.Usage, 'request target must be a path');
      try {
        ctx.url = new URL(BASE + target);
      } catch {
        throw new LpmosError(ErrorCode.Usage, 'request target is not a valid URL');
      }
      const r = route(ctx.url.pathname);
      if (!r) throw new LpmosError(ErrorCode.NotFound, `no such path: ${ctx.url.pathname}`);
      name = r.name;
      json = r.json === true;
      const methods = r.methods ?? ['GET', 'HEAD'];
      if (!methods.includes(req.method ?? '')) throw new HttpError(405, `method ${req.method} not allowed: ${methods.join(' or ')}`, { Allow: methods.join(', ') }, 'E_METHOD');
      // Bodies are not read: a large one is refused rather than drained for as long as it lasts.
      if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`, { Connection: 'close' }, 'E_TOO_LARGE');
      await r.handler(ctx, this.#app);
    } catch (e) {
      this.#answerError(ctx, e, json);
    }
  }

  #answerError(ctx: HttpContext, e: unknown, json = false): void {
    const { res } = ctx;
    let status: number;
    let headers: Record<string, string> = {};
    if (e instanceof HttpError) {
      status = e.status;
      headers = e.headers;
    } else if (isLpmosError(e)) {
      status = httpStatus[e.code];
    } else {
      status = 500;
    }
    if (status >= 500) this.#deps.logger.warn({ err: e, path: ctx.req.url }, 'http: request failed');
    if (res.headersSent || ctx.signal.aborted) {
      res.destroy();
      return;
    }
    for (const h of res.getHeaderNames()) res.removeHeader(h);
    if (json) {
      const code = e instanceof HttpError || isLpmosError(e) ? e.code : ErrorCode.Internal;
      const message = e instanceof HttpError || isLpmosError(e) ? e.message : `internal error: ${(e as Error)?.message ?? String(e)}`;
      const details = isLpmosError(e) && e.details.length > 0 ? { details: e.details } : {};
      sendJson(ctx, status, { error: { code, message, ...details } }, headers);
      return;
    }
    const message = e instanceof HttpError || isLpmosError(e) ? formatError(e) : `internal error: ${(e as Error)?.message ?? String(e)}`;
    sendBody(ctx, status, `${message}\n`, 'text/plain; charset=utf-8', { 'Cache-Control': 'no-store', ...headers });
  }
}

/** Validates the config (errors name the flag), starts the server; stop() it when done. */
export async function startHttp(config: HttpConfigInput, deps: HttpDeps): Promise<HttpServer> {
  const r = httpConfigSchema.safeParse(config);
  if (!r.success) {
    throw new LpmosError(ErrorCode.Usage, 'invalid HTTP configuration', {
      details: r.error.issues.map((i) => ({ path: httpFlag(String(i.path[0] ?? '')), message: i.message })),
    });
  }
  const server = new HttpServer(r.data, deps);
  await server.start();
  return server;
}
