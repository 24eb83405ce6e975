// GET|HEAD /mirror/<name>/<path>: the seed's apt mirror (seed/mirror/cache.ts) — what debootstrap
// and apt on the agents use. Files are served with Range and Last-Modified by `send`, as artifacts.
import { ErrorCode, LpmosError } from '../../../core/errors.ts';
import type { Handler } from '../context.ts';
import { sendFile } from '../send-file.ts';

const PREFIX = '/mirror/';

export const mirror: Handler = async (ctx, app) => {
  if (!app.mirror) throw new LpmosError(ErrorCode.NotFound, 'this seed runs no package mirror');
  const rest = ctx.url.pathname.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new LpmosError(ErrorCode.NotFound, `no mirror path in "${ctx.url.pathname}"`);
  const got = await app.mirror.open(rest.slice(0, slash), rest.slice(slash + 1), ctx.signal);
  ctx.res.setHeader('X-Lpmos-Cache', got.source);
  if (got.sha256) ctx.res.setHeader('X-Lpmos-Sha256', got.sha256);
  await sendFile(ctx, got.file, `mirror file ${rest}`);
};
