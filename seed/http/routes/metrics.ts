// GET /metrics: Prometheus text exposition of the HTTP counters.
import { sendBody, type Handler } from '../context.ts';

export const metrics: Handler = async (ctx, app) => {
  sendBody(ctx, 200, app.metrics.render(), 'text/plain; version=0.0.4; charset=utf-8', { 'Cache-Control': 'no-store' });
};
