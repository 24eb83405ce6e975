// The boot-storm offload's part of the artifact route (issue 7): a GET of the agent kernel or ramdisk
// may be answered with `302 Location: http://<holder>/blobs/<sha256>` (an agent that keeps the file;
// iPXE follows 301/302/307) or `503 Retry-After` (iPXE's chain script asks again), else the seed sends
// it and the offload counts the copy. Also `GET /artifacts/agent-boot.json`: the agent's boot refs
// (name, sha256, size, by-hash URL of the kernel and ramdisk), which a booted agent fetches to keep
// its own copies — and which tells the seed that this client's downloads are over.
import { ErrorCode, LpmosError } from '../../../core/errors.ts';
import type { Artifact } from '../artifacts.ts';
import { sendBody, sendJson, type HttpApp, type HttpContext } from '../context.ts';
import type { BootFile } from '../../offload.ts';
import type { BlobManifest } from '../../../swarm/blobs/api.ts';
import { requireAgent } from './agent-artifacts.ts';

export const AGENT_BOOT_NAME = 'agent-boot.json';

/** The artifact as a boot file when it is the agent kernel or ramdisk (by content: a by-hash URL counts too). */
export function bootFileOf(app: HttpApp, a: Artifact): BootFile | undefined {
  for (const n of [app.agent.kernel, app.agent.initrd]) {
    const b = app.artifacts.byName(n);
    if (b && b.sha256 === a.sha256) return { name: n, sha256: b.sha256, size: b.size };
  }
  return undefined;
}

function clientOf(ctx: HttpContext): string {
  return ctx.req.socket.remoteAddress ?? '';
}

/**
 * Redirects or defers the request when the offload says so (true: answered). Otherwise returns
 * false and, through `counted`, the function to call when the seed's response closed.
 */
export function offloadAnswer(ctx: HttpContext, app: HttpApp, f: BootFile): { answered: true } | { answered: false; counted?: (bytes: number, finished: boolean) => void } {
  const o = app.offload;
  if (!o) return { answered: false };
  const { req } = ctx;
  const client = clientOf(ctx);
  o.clientBack(client);
  const range = req.headers.range !== undefined;
  const d = o.decide(f, { client, method: req.method ?? 'GET', range, retries: /\biPXE\//.test(req.headers['user-agent'] ?? '') });
  if (d.kind === 'redirect') {
    app.log.info({ file: f.name, client, holder: d.to.peerId, to: d.to.url, reason: d.reason }, 'http: boot file redirected to an agent');
    sendBody(ctx, 302, `${d.to.url}\n`, 'text/plain; charset=utf-8', { Location: d.to.url, 'Cache-Control': 'no-store' });
    return { answered: true };
  }
  if (d.kind === 'busy') {
    app.log.info({ file: f.name, client, reason: d.reason }, 'http: boot file deferred (503): every holder and the seed are busy');
    sendBody(ctx, 503, `busy: ${d.reason}; retry in ${d.retryAfterS} s\n`, 'text/plain; charset=utf-8', { 'Retry-After': String(d.retryAfterS), 'Cache-Control': 'no-store' });
    return { answered: true };
  }
  if (req.method === 'HEAD') return { answered: false };
  return { answered: false, counted: o.serving(f, range) };
}

/** GET|HEAD /artifacts/agent-boot.json when no artifact has that name. */
export async function agentBoot(ctx: HttpContext, app: HttpApp): Promise<void> {
  if (app.offload && !app.offload.on) throw new LpmosError(ErrorCode.NotFound, 'boot offload is off (--boot-offload off): agents need not keep the boot files');
  await requireAgent(app);
  app.offload?.clientBack(clientOf(ctx));
  // With the piece manifest (when the seed's exchange holds the file) agents fetch piece by piece —
  // from each other while downloading — instead of each streaming the whole file from here.
  const ref = (n: string): { name: string; sha256: string; size: number; url: string; manifest?: BlobManifest } => {
    const a = app.artifacts.byName(n)!;
    const m = app.offload?.manifest(a.sha256);
    return { name: a.name, sha256: a.sha256, size: a.size, url: `/artifacts/sha256/${a.sha256}`, ...(m && m.sha256 === a.sha256 && m.size === a.size ? { manifest: m } : {}) };
  };
  sendJson(ctx, 200, { kernel: ref(app.agent.kernel), initrd: ref(app.agent.initrd) });
}
