// One file from disk as an HTTP answer (Range, ETag, Last-Modified, HEAD by `send`), for the routes
// whose files are found by code rather than listed (the mirror's cache, the root images). Errors:
// 404 and 5xx as typed errors naming `what`; 412/416 as HttpError with `send`'s headers.
import { basename, dirname } from 'node:path';
import send from 'send';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { HttpError, type HttpContext } from './context.ts';

export function sendFile(ctx: HttpContext, file: string, what: string): Promise<void> {
  const stream = send(ctx.req, encodeURIComponent(basename(file)), { root: dirname(file), etag: true, index: false, dotfiles: 'allow', acceptRanges: true, lastModified: true, maxAge: 0 });
  return new Promise<void>((resolve, reject) => {
    stream.on('error', (err: { status?: number; message?: string; headers?: Record<string, string> }) => {
      const status = err.status ?? 500;
      if (status >= 500 || status === 404) reject(new LpmosError(status === 404 ? ErrorCode.NotFound : ErrorCode.Internal, `${what}: ${err.message ?? 'read failed'}`));
      else reject(new HttpError(status, err.message ?? 'request refused', err.headers ?? {}));
    });
    stream.on('stream', (f: NodeJS.ReadableStream) => f.on('data', (chunk: Buffer) => (ctx.bytes += chunk.length)));
    ctx.res.once('close', () => resolve());
    stream.pipe(ctx.res);
  });
}
