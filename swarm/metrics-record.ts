// Pure: the per-machine swarm metrics record at `swarm/metrics/<machine>` (core/keys.ts
// swarmMetrics), written by that machine's agent (agent/metrics-writer.ts) and read by
// `lpmos machine show` and the seed's /metrics. Byte totals first — what an operator asks
// ("how much came from the seed, how much from peers, how much did it serve?") — then the
// exchange's and the apt proxy's own counters for whoever digs deeper.
import { z } from 'zod';
import type { BlobStats } from './blobs/api.ts';

const count = z.number().int().nonnegative();

export const blobCountersSchema = z.object({
  bytesFromSeed: count,
  bytesFromPeers: count,
  bytesServedToPeers: count,
  piecesFromSeed: count,
  piecesFromPeers: count,
  piecesServed: count,
  badPieces: count,
  peersDropped: count,
  uploadsRefused: count,
  fetchesJoined: count,
});

export const proxyCountersSchema = z.object({
  /** Requests answered by the agent's apt proxy. */
  requests: count,
  /** Package files served from the blob exchange (peers first, then the seed's mirror by Range). */
  packagesFromSwarm: count,
  /** Index files the Release names, served from the blob exchange (peers first). */
  indexFilesFromSwarm: count.default(0),
  /** Files passed through from the seed's mirror (index files, packages the index does not name). */
  passedThrough: count,
  /** Body bytes of those pass-through responses: they come from the seed too. */
  passThroughBytes: count,
  /** Package files the exchange could not deliver that were passed through instead. */
  swarmFailures: count,
});
export type ProxyCounters = z.infer<typeof proxyCountersSchema>;

export const swarmMetricsSchema = z.object({
  machine: z.string(),
  peerId: z.string().optional(),
  /** ISO time of the write. */
  at: z.string(),
  /** Everything this agent took from the seed: blob pieces/wholes plus proxy pass-through bytes. */
  bytesFromSeed: count,
  bytesFromPeers: count,
  bytesServedToPeers: count,
  blobs: blobCountersSchema,
  proxy: proxyCountersSchema.optional(),
});
export type SwarmMetrics = z.infer<typeof swarmMetricsSchema>;

export function emptyProxyCounters(): ProxyCounters {
  return { requests: 0, packagesFromSwarm: 0, indexFilesFromSwarm: 0, passedThrough: 0, passThroughBytes: 0, swarmFailures: 0 };
}

/** The record for one moment (`at` left to the caller so equal counters compare equal). */
export function metricsRecord(machine: string, blobs: BlobStats, proxy: ProxyCounters | undefined, peerId?: string): Omit<SwarmMetrics, 'at'> {
  return {
    machine,
    ...(peerId ? { peerId } : {}),
    bytesFromSeed: blobs.bytesFromSeed + (proxy?.passThroughBytes ?? 0),
    bytesFromPeers: blobs.bytesFromPeers,
    bytesServedToPeers: blobs.bytesServedToPeers,
    blobs: { ...blobs },
    ...(proxy ? { proxy: { ...proxy } } : {}),
  };
}

/** A stored record, or undefined when the value is not one (an older or foreign writer). */
export function decodeSwarmMetrics(text: string): SwarmMetrics | undefined {
  try {
    const r = swarmMetricsSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
