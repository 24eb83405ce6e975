// Pure: the swarm's counters in the Prometheus text format (0.0.4) for the seed's /metrics — the
// seed's own blob exchange, and every machine's bytes as its agent last wrote them to etcd
// (`swarm/metrics/<machine>`, agent/metrics-writer.ts).
import type { SwarmMetrics } from '../swarm/metrics-record.ts';
import type { BlobStats } from '../swarm/blobs/api.ts';

const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** The seed's own blob exchange counters. */
export function renderSeedBlobStats(s: BlobStats): string {
  const lines = [
    '# HELP lpmos_seed_blob_bytes_total Bytes of the seed\'s blob exchange, by kind (from_seed: fetched from its own HTTP fallback; from_peers; served_to_peers).',
    '# TYPE lpmos_seed_blob_bytes_total counter',
    `lpmos_seed_blob_bytes_total{kind="from_peers"} ${s.bytesFromPeers}`,
    `lpmos_seed_blob_bytes_total{kind="from_seed"} ${s.bytesFromSeed}`,
    `lpmos_seed_blob_bytes_total{kind="served_to_peers"} ${s.bytesServedToPeers}`,
    '# HELP lpmos_seed_blob_pieces_total Pieces of the seed\'s blob exchange, by kind.',
    '# TYPE lpmos_seed_blob_pieces_total counter',
    `lpmos_seed_blob_pieces_total{kind="from_peers"} ${s.piecesFromPeers}`,
    `lpmos_seed_blob_pieces_total{kind="from_seed"} ${s.piecesFromSeed}`,
    `lpmos_seed_blob_pieces_total{kind="served_to_peers"} ${s.piecesServed}`,
    '# HELP lpmos_seed_blob_events_total Bad pieces, peers dropped, uploads refused, fetches joined.',
    '# TYPE lpmos_seed_blob_events_total counter',
    `lpmos_seed_blob_events_total{event="bad_piece"} ${s.badPieces}`,
    `lpmos_seed_blob_events_total{event="fetch_joined"} ${s.fetchesJoined}`,
    `lpmos_seed_blob_events_total{event="peer_dropped"} ${s.peersDropped}`,
    `lpmos_seed_blob_events_total{event="upload_refused"} ${s.uploadsRefused}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Per-machine bytes as reported by the agents (gauges: a restarted agent counts from zero). */
export function renderMachineSwarmMetrics(records: SwarmMetrics[]): string {
  const sorted = [...records].sort((a, b) => (a.machine < b.machine ? -1 : a.machine > b.machine ? 1 : 0));
  const lines = [
    '# HELP lpmos_machine_swarm_bytes Bytes of a machine\'s agent as it last reported them, by kind (from_seed includes its apt proxy\'s pass-through).',
    '# TYPE lpmos_machine_swarm_bytes gauge',
  ];
  for (const r of sorted) {
    const m = label(r.machine);
    lines.push(
      `lpmos_machine_swarm_bytes{machine="${m}",kind="from_peers"} ${r.bytesFromPeers}`,
      `lpmos_machine_swarm_bytes{machine="${m}",kind="from_seed"} ${r.bytesFromSeed}`,
      `lpmos_machine_swarm_bytes{machine="${m}",kind="served_to_peers"} ${r.bytesServedToPeers}`,
    );
  }
  lines.push('# HELP lpmos_machine_swarm_report_time_seconds When the machine\'s agent last wrote its counters (Unix time).', '# TYPE lpmos_machine_swarm_report_time_seconds gauge');
  for (const r of sorted) {
    const t = Date.parse(r.at);
    if (Number.isFinite(t)) lines.push(`lpmos_machine_swarm_report_time_seconds{machine="${label(r.machine)}"} ${t / 1000}`);
  }
  lines.push(
    '# HELP lpmos_swarm_bytes Sum over machines of lpmos_machine_swarm_bytes, by kind.',
    '# TYPE lpmos_swarm_bytes gauge',
    `lpmos_swarm_bytes{kind="from_peers"} ${sum(sorted, 'bytesFromPeers')}`,
    `lpmos_swarm_bytes{kind="from_seed"} ${sum(sorted, 'bytesFromSeed')}`,
    `lpmos_swarm_bytes{kind="served_to_peers"} ${sum(sorted, 'bytesServedToPeers')}`,
  );
  return `${lines.join('\n')}\n`;
}

function sum(rs: SwarmMetrics[], k: 'bytesFromSeed' | 'bytesFromPeers' | 'bytesServedToPeers'): number {
  return rs.reduce((n, r) => n + r[k], 0);
}
