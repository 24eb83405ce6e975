// POST /api/v1/boot-files/declined?sha256=<hex>[,<hex>]: a booted agent will not keep these boot files
// (agent/boot-blobs.ts: they do not fit in its blob store, or its fetch failed), so the seats of the
// copies the seed sent this machine (seed/offload.ts) are free at once instead of after the grace —
// the next booting machine gets a copy instead of waiting for a holder that will never be. The body
// is not read; the machine is the client address. Answers `{ released: n }`. Errors are JSON.
import { ErrorCode, LpmosError } from '../../../core/errors.ts';
import { sendJson, type Handler } from '../context.ts';

const HEX = /^[0-9a-fA-F]{64}$/;

export const bootDeclined: Handler = async (ctx, app) => {
  const raw = ctx.url.searchParams.get('sha256') ?? '';
  const shas = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = shas.find((s) => !HEX.test(s));
  if (shas.length === 0 || bad !== undefined) {
    throw new LpmosError(ErrorCode.Usage, bad !== undefined ? `sha256 "${bad.slice(0, 80)}" is not 64 hex digits` : 'name the declined files: ?sha256=<hex>[,<hex>]', {
      details: [{ path: 'query.sha256', message: 'one or more sha256 digests, comma-separated' }],
    });
  }
  const client = ctx.req.socket.remoteAddress ?? '';
  const released = app.offload?.declined(client, shas) ?? 0;
  app.log.info({ client, sha256: shas, released }, 'http: an agent will not keep boot files; their seats are free');
  sendJson(ctx, 200, { released });
};
