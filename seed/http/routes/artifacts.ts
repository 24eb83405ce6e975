// GET|HEAD /artifacts/<name> and /artifacts/sha256/<hex>: files of the artifact manifests.
// Range (one range: 206, or 416 with `Content-Range: bytes */size`; several ranges: the whole file,
// as RFC 9110 §14.2 allows), ETag = the manifest's sha256 (strong), If-None-Match → 304, If-Range,
// If-Match/If-Unmodified-Since → 412, Last-Modified, Content-Length: the `send` library (expressjs),
// which implements exactly these rules and is maintained; we only hand it a file the manifest
// lists. By-hash URLs never change meaning, so they are cacheable for a year (`immutable`).
import send from 'send';
import { ErrorCode, LpmosError } from '../../../core/errors.ts';
import { hasControl, type Artifact } from '../artifacts.ts';
import { HttpError, type Handler } from '../context.ts';
import { AGENT_BOOT_NAME, agentBoot, bootFileOf, offloadAnswer } from './artifacts-offload.ts';

const PREFIX = '/artifacts/';
const BY_HASH = /^sha256\/([0-9a-fA-F]{64})$/;

function lookup(name: string, find: (name: string) => Artifact | undefined, bySha: (hex: string) => Artifact | undefined): { artifact: Artifact; byHash: boolean } {
  const h = BY_HASH.exec(name);
  const artifact = h ? bySha(h[1]!) : find(name);
  if (!artifact) throw new LpmosError(ErrorCode.NotFound, h ? `no artifact with sha256 ${h[1]!.toLowerCase()}` : `no artifact named "${name}"`);
  return { artifact, byHash: h !== null };
}

export const artifacts: Handler = async (ctx, app) => {
  const raw = ctx.url.pathname.slice(PREFIX.length);
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    throw new LpmosError(ErrorCode.Usage, `artifact name "${raw}" is not valid percent-encoding`);
  }
  if (hasControl(name)) throw new LpmosError(ErrorCode.Usage, 'artifact name holds a control character');
  await app.artifacts.refresh().catch((e: unknown) => app.log.warn({ err: e }, 'http: a changed artifact manifest could not be loaded; serving the previous one'));
  if (name === AGENT_BOOT_NAME && !app.artifacts.byName(name)) return agentBoot(ctx, app);
  const { artifact, byHash } = lookup(name, (n) => app.artifacts.byName(n), (h) => app.artifacts.bySha256(h));

  const { req, res } = ctx;
  // The agent kernel and ramdisk: perhaps from an agent that holds them (boot-storm offload).
  const boot = bootFileOf(app, artifact);
  let counted: ((bytes: number, finished: boolean) => void) | undefined;
  if (boot) {
    const o = offloadAnswer(ctx, app, boot);
    if (o.answered) return;
    counted = o.counted;
  }
  const before = ctx.bytes;
  if (counted) res.once('close', () => counted(ctx.bytes - before, res.writableFinished));
  res.setHeader('ETag', `"${artifact.sha256}"`);
  res.setHeader('Content-Type', 'application/octet-stream');
  const path = artifact.rel.split('/').map(encodeURIComponent).join('/');
  const stream = send(req, path, {
    root: artifact.root,
    etag: false, // ours, from the manifest, is set above; send compares against it
    index: false,
    dotfiles: 'allow', // the name came from the manifest, not from the URL
    acceptRanges: true,
    lastModified: true,
    cacheControl: true,
    ...(byHash ? { maxAge: '1y', immutable: true } : { maxAge: 0 }),
  });
  await new Promise<void>((resolve, reject) => {
    stream.on('error', (err: { status?: number; message?: string; headers?: Record<string, string> }) => {
      const status = err.status ?? 500;
      if (status === 404) reject(new LpmosError(ErrorCode.NotFound, `artifact "${artifact.name}" is listed but its file is gone`));
      else if (status >= 500) reject(new LpmosError(ErrorCode.Internal, `artifact "${artifact.name}": ${err.message ?? 'read failed'}`));
      else reject(new HttpError(status, status === 416 ? `range not satisfiable: "${artifact.name}" has ${artifact.size} bytes` : (err.message ?? 'request refused'), err.headers ?? {}));
    });
    stream.on('stream', (file: NodeJS.ReadableStream) => file.on('data', (chunk: Buffer) => (ctx.bytes += chunk.length)));
    res.once('close', () => resolve());
    stream.pipe(res);
  });
};
