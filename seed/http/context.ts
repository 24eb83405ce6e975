// What every route handler gets: the request, the response, the parsed URL and the server's parts.
// Handlers return after the response ended (or throw; the edge in server.ts translates the error).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../core/log.ts';
import type { Keys } from '../../core/keys.ts';
import type { Store } from '../../core/store/store.ts';
import type { ArtifactIndex } from './artifacts.ts';
import type { ScriptEnv } from './boot-scripts.ts';
import type { HttpMetrics } from './metrics.ts';
import type { MirrorCache } from '../mirror/cache.ts';
import type { BootOffload } from '../offload.ts';
import type { RootImageBuilds } from '../rootfs/builds.ts';

export interface HttpApp {
  store: Store;
  keys: Keys;
  artifacts: ArtifactIndex;
  /** The apt mirror under /mirror/, when the seed runs one. */
  mirror?: MirrorCache;
  /** Root images built here from the mirror (seed/rootfs/builds.ts), when the seed runs one. */
  rootfs?: RootImageBuilds;
  /** Boot-storm offload (seed/offload.ts): redirects of the agent kernel and ramdisk, and their counters. */
  offload?: BootOffload;
  metrics: HttpMetrics;
  log: Logger;
  /** Artifact names of the agent kernel and ramdisk. */
  agent: { kernel: string; initrd: string };
  /** Script settings as seen by this request (the seed URL depends on the address the client reached). */
  scriptEnv(req: IncomingMessage): ScriptEnv;
}

export interface HttpContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Aborted when the client goes away or the server stops. */
  signal: AbortSignal;
  /** Body bytes sent, for the access log and metrics. */
  bytes: number;
}

export type Handler = (ctx: HttpContext, app: HttpApp) => Promise<void>;

/** A complete small response (scripts, health, metrics); HEAD gets the headers only. */
export function sendBody(ctx: HttpContext, status: number, body: string, contentType: string, headers: Record<string, string> = {}): void {
  const buf = Buffer.from(body, 'utf8');
  ctx.res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': String(buf.length), ...headers });
  if (ctx.req.method === 'HEAD') {
    ctx.res.end();
    return;
  }
  ctx.res.end(buf);
  ctx.bytes += buf.length;
}

/** Scripts depend on the machine's current state: never cached. */
export function sendScript(ctx: HttpContext, body: string): void {
  sendBody(ctx, 200, body, 'text/plain; charset=utf-8', { 'Cache-Control': 'no-store' });
}

/** An answer of the HTTP layer itself (412, 416 from conditional and range requests), not a domain error. */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Stable code in JSON error bodies (API routes); default `E_HTTP_<status>`. */
  readonly code: string;
  constructor(status: number, message: string, headers: Record<string, string> = {}, code?: string) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.headers = headers;
    this.code = code ?? `E_HTTP_${status}`;
  }
}

/** A small JSON answer (API routes). */
export function sendJson(ctx: HttpContext, status: number, value: unknown, headers: Record<string, string> = {}): void {
  sendBody(ctx, status, `${JSON.stringify(value)}\n`, 'application/json', { 'Cache-Control': 'no-store', ...headers });
}
