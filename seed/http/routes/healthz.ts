// GET /healthz: the HTTP server answers (liveness; the store has its own health in the seed).
import { sendBody, type Handler } from '../context.ts';

export const healthz: Handler = async (ctx) => {
  sendBody(ctx, 200, 'ok\n', 'text/plain; charset=utf-8', { 'Cache-Control': 'no-store' });
};
