// The seed's root images (seed/rootfs/builds.ts):
//   POST /rootfs?os=debian&suite=bookworm&arch=amd64&variant=minbase&components=main&include=a,b,…
//     → 200 {state: ready, image: {key, sha256, size, path, …}} | 202 {state: building, …} (ask again)
//     | 502 {state: failed, code, message} (the build failed; tried again a minute later).
//   GET|HEAD /rootfs/<key>.tar.zst → the image (Range allowed: the swarm's seed fallback asks per piece).
// The spec comes in the query (API bodies are not read, server.ts); bad specs are 400 naming the field.
import send from 'send';
import { ErrorCode, LpmosError } from '../../../core/errors.ts';
import { rootfsSpecFromQuery } from '../../../installers/debian/root-image.ts';
import { HttpError, sendJson, type Handler } from '../context.ts';

const FILE = /^\/rootfs\/([0-9a-f]{64})\.tar\.zst$/;

export function matchRootfsFile(path: string): boolean {
  return FILE.test(path);
}

export const rootfsBuild: Handler = async (ctx, app) => {
  if (!app.rootfs) throw new LpmosError(ErrorCode.NotFound, 'this seed builds no root images (it runs no mirror)');
  const answer = await app.rootfs.request(rootfsSpecFromQuery(ctx.url.searchParams));
  sendJson(ctx, answer.state === 'ready' ? 200 : answer.state === 'building' ? 202 : 502, answer, answer.state === 'building' ? { 'Retry-After': '5' } : {});
};

export const rootfsFile: Handler = async (ctx, app) => {
  const key = FILE.exec(ctx.url.pathname)?.[1];
  if (!app.rootfs || !key) throw new LpmosError(ErrorCode.NotFound, `no such root image: ${ctx.url.pathname}`);
  const file = app.rootfs.file(key);
  const stream = send(ctx.req, `/${key}.tar.zst`, { root: file.slice(0, -(key.length + 9)), etag: true, index: false, acceptRanges: true, lastModified: true, maxAge: 0 });
  await new Promise<void>((resolve, reject) => {
    stream.on('error', (err: { status?: number; message?: string; headers?: Record<string, string> }) => {
      const status = err.status ?? 500;
      if (status >= 500 || status === 404) reject(new LpmosError(status === 404 ? ErrorCode.NotFound : ErrorCode.Internal, `root image ${key}: ${err.message ?? 'read failed'}`));
      else reject(new HttpError(status, err.message ?? 'request refused', err.headers ?? {}));
    });
    stream.on('stream', (f: NodeJS.ReadableStream) => f.on('data', (chunk: Buffer) => (ctx.bytes += chunk.length)));
    ctx.res.once('close', () => resolve());
    stream.pipe(ctx.res);
  });
};
