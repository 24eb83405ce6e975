// GET /metrics: Prometheus text exposition of the HTTP counters, what other parts of the seed add
// (its blob exchange: seed/blobs-metrics.ts), and every machine's swarm bytes as its agent last
// wrote them to etcd (`swarm/metrics/<machine>`).
import { decodeSwarmMetrics, type SwarmMetrics } from '../../../swarm/metrics-record.ts';
import { renderMachineSwarmMetrics } from '../../blobs-metrics.ts';
import { sendBody, type Handler } from '../context.ts';

export const metrics: Handler = async (ctx, app) => {
  const parts = [app.metrics.render(), ...app.metrics.collectors.map((c) => c())];
  try {
    const { kvs } = await app.store.list(app.keys.swarmMetricsAll(), { signal: ctx.signal });
    const records = kvs.map((kv) => decodeSwarmMetrics(kv.value)).filter((r): r is SwarmMetrics => r !== undefined);
    parts.push(renderMachineSwarmMetrics(records));
  } catch (e) {
    // The HTTP counters are still worth a scrape when etcd does not answer.
    app.log.warn({ err: (e as Error).message }, '/metrics: per-machine swarm counters not read');
  }
  sendBody(ctx, 200, parts.join(''), 'text/plain; version=0.0.4; charset=utf-8', { 'Cache-Control': 'no-store' });
};
