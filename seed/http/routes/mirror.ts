// GET|HEAD /mirror/<name>/<path>: the seed's apt mirror (seed/mirror/cache.ts) — what debootstrap
// and apt on the agents use. Files are served with Range and Last-Modified by `send`, as artifacts.
import { basename, dirname } from 'node:path';
import send from 'send';
import { ErrorCode, LpmosError } from '../../../core/errors.ts';
import { HttpError, type Handler } from '../context.ts';

const PREFIX = '/mirror/';

export const mirror: Handler = async (ctx, app) => {
  if (!app.mirror) throw new LpmosError(ErrorCode.NotFound, 'this seed runs no package mirror');
  const rest = ctx.url.pathname.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new LpmosError(ErrorCode.NotFound, `no mirror path in "${ctx.url.pathname}"`);
  const got = await app.mirror.open(rest.slice(0, slash), rest.slice(slash + 1), ctx.signal);
  ctx.res.setHeader('X-Lpmos-Cache', got.source);
  if (got.sha256) ctx.res.setHeader('X-Lpmos-Sha256', got.sha256);
  const stream = send(ctx.req, encodeURIComponent(basename(got.file)), { root: dirname(got.file), etag: true, index: false, dotfiles: 'allow', acceptRanges: true, lastModified: true, maxAge: 0 });
  await new Promise<void>((resolve, reject) => {
    stream.on('error', (err: { status?: number; message?: string; headers?: Record<string, string> }) => {
      const status = err.status ?? 500;
      if (status >= 500 || status === 404) reject(new LpmosError(status === 404 ? ErrorCode.NotFound : ErrorCode.Internal, `mirror file ${rest}: ${err.message ?? 'read failed'}`));
      else reject(new HttpError(status, err.message ?? 'request refused', err.headers ?? {}));
    });
    stream.on('stream', (file: NodeJS.ReadableStream) => file.on('data', (chunk: Buffer) => (ctx.bytes += chunk.length)));
    ctx.res.once('close', () => resolve());
    stream.pipe(ctx.res);
  });
};
