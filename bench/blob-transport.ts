// `node bench/blob-transport.ts`: how fast piece bytes move between two swarm nodes on loopback, over
// a libp2p stream (`/lpmos/blob/1.0.0`: TCP + noise + yamux) and over the holder's plain HTTP piece
// server — the measurement behind the transport decision in swarm/README.md. HTTP twice: through
// node:http (`node:http`) and through the fetcher's own range client (`http`, range-client.ts).
//
// The holder runs in a child process (its own CPU accounting); the requester pulls every piece of
// an N MiB blob in memory, K pieces in flight, through the same client code the fetcher uses, and
// checks no hashes (that cost is the same for both and printed apart). Transports alternate, the
// median of BENCH_REPS runs is reported, each side's CPU from process.cpuUsage().
//
// Env: BENCH_MIB (default 256), BENCH_REPS (default 3), BENCH_INFLIGHT (default "1,4").
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { silentLogger } from '../core/log.ts';
import { DEFAULT_PIECE_SIZE } from '../swarm/blobs/api.ts';
import { httpAgent, httpRange } from '../swarm/blobs/http-client.ts';
import { RangeClient } from '../swarm/blobs/range-client.ts';
import { HttpBlobServer } from '../swarm/blobs/http-server.ts';
import { manifestOf, pieceRange } from '../swarm/blobs/manifest.ts';
import { MemoryPieceStore } from '../swarm/blobs/memory-store.ts';
import { p2pPiece } from '../swarm/blobs/p2p-client.ts';
import { P2pBlobServer } from '../swarm/blobs/p2p-server.ts';
import { emptyStats } from '../swarm/blobs/service.ts';
import { UploadLimiter } from '../swarm/blobs/upload-limit.ts';
import { SwarmNode } from '../swarm/node.ts';

const MiB = 1024 * 1024;
const mib = Number(process.env.BENCH_MIB ?? 256);
const reps = Number(process.env.BENCH_REPS ?? 3);
const inflights = (process.env.BENCH_INFLIGHT ?? '1,4').split(',').map(Number);

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** The holder: a node and an HTTP server serving one random blob; answers "cpu" with its CPU ms. */
async function holder(): Promise<void> {
  const bytes = randomBytes(mib * MiB);
  const m = manifestOf(bytes, DEFAULT_PIECE_SIZE);
  const store = new MemoryPieceStore({ budget: bytes.length });
  await store.open(m);
  for (let i = 0; i < m.pieces.length; i++) {
    const r = pieceRange(m, i);
    await store.putPiece(m.sha256, i, bytes.subarray(r.start, r.end));
  }
  const node = await SwarmNode.create({ identity: 'memory', listen: ['/ip4/127.0.0.1/tcp/0'], allow: () => true });
  await node.start();
  const limits = new UploadLimiter({ perPeer: 64, total: 64 });
  const stats = emptyStats();
  const p2p = new P2pBlobServer({ libp2p: node.libp2p, store, limiter: limits, stats, haveFor: () => new Uint8Array(), servePieces: true, log: silentLogger() });
  await p2p.start();
  const http = new HttpBlobServer({ store, limiter: limits, stats, log: silentLogger() });
  const url = await http.start('127.0.0.1');
  process.stdout.write(`${JSON.stringify({ manifest: m, addrs: node.addrs(), peerId: node.peerId, url })}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'cpu') process.stdout.write(`${JSON.stringify({ cpu: cpuMs() })}\n`);
    if (line === 'stop') break;
  }
  await http.stop();
  await p2p.stop();
  await node.stop();
}

async function requester(): Promise<void> {
  const child = spawn(process.execPath, [process.argv[1]!, '--holder'], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => JSON.parse(((await lines.next()).value as string | undefined) ?? 'null') as Record<string, unknown>;
  try {
    const hello = (await next()) as { manifest: ReturnType<typeof manifestOf>; addrs: string[]; peerId: string; url: string };
    const m = hello.manifest;
    const holderCpu = async (): Promise<number> => {
      child.stdin!.write('cpu\n');
      return (await next()).cpu as number;
    };
    const node = await SwarmNode.create({ identity: 'memory', listen: ['/ip4/127.0.0.1/tcp/0'], allow: () => true });
    await node.start();
    await node.dial(hello.addrs[0]!);
    const target = { peerId: hello.peerId, addrs: hello.addrs };
    const get: Record<string, (i: number) => Promise<Uint8Array>> = {
      libp2p: (i) => {
        const r = pieceRange(m, i);
        return p2pPiece(node.libp2p, target, m.sha256, i, r.end - r.start, AbortSignal.timeout(60_000));
      },
      'node:http': (i) => {
        const r = pieceRange(m, i);
        return httpRange(`${hello.url}/${m.sha256}`, r.start, r.end, m.size, AbortSignal.timeout(60_000), httpAgent);
      },
      http: (i) => {
        const r = pieceRange(m, i);
        return rangeClient.get(`${hello.url}/${m.sha256}`, r.start, r.end, m.size, AbortSignal.timeout(60_000));
      },
    };
    const rangeClient = new RangeClient();
    const pull = async (fetchPiece: (i: number) => Promise<Uint8Array>, k: number): Promise<void> => {
      let nextPiece = 0;
      let bytes = 0;
      await Promise.all(
        Array.from({ length: k }, async () => {
          while (nextPiece < m.pieces.length) {
            const piece = await fetchPiece(nextPiece++);
            bytes += piece.length;
          }
        }),
      );
      if (bytes !== m.size) throw new Error(`pulled ${bytes} of ${m.size} bytes`);
    };
    // Warm-up: connections, JIT.
    for (const t of Object.keys(get)) await pull(get[t]!, 2);
    console.log(`blob transport on loopback: ${mib} MiB in ${DEFAULT_PIECE_SIZE / MiB} MiB pieces, median of ${reps}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log('transport  in-flight   MiB/s   requester CPU ms/MiB   holder CPU ms/MiB   both');
    const results: Record<string, number> = {};
    for (const k of inflights) {
      const runs: Record<string, { rate: number; req: number; hold: number }[]> = Object.fromEntries(Object.keys(get).map((t) => [t, []]));
      for (let r = 0; r < reps; r++) {
        for (const t of Object.keys(get)) {
          const c0 = cpuMs();
          const h0 = await holderCpu();
          const t0 = performance.now();
          await pull(get[t]!, k);
          const s = (performance.now() - t0) / 1000;
          const req = cpuMs() - c0;
          const hold = (await holderCpu()) - h0;
          runs[t]!.push({ rate: mib / s, req: req / mib, hold: hold / mib });
        }
      }
      for (const t of Object.keys(get)) {
        const sorted = [...runs[t]!].sort((a, b) => a.rate - b.rate);
        const med = sorted[Math.floor(sorted.length / 2)]!;
        results[`${t}/${k}`] = med.rate;
        console.log(`${t.padEnd(10)} ${String(k).padStart(9)} ${med.rate.toFixed(0).padStart(7)} ${med.req.toFixed(2).padStart(22)} ${med.hold.toFixed(2).padStart(19)} ${(med.req + med.hold).toFixed(2).padStart(6)}`);
      }
    }
    const sample = randomBytes(64 * MiB);
    const h0 = cpuMs();
    createHash('sha256').update(sample).digest();
    console.log(`sha256 verification (both transports): ${((cpuMs() - h0) / 64).toFixed(2)} CPU ms/MiB`);
    for (const k of inflights) console.log(`http / libp2p at ${k} in flight: ${(results[`http/${k}`]! / results[`libp2p/${k}`]!).toFixed(2)}×`);
    rangeClient.close();
    await node.stop();
  } finally {
    child.stdin!.write('stop\n');
    await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null) child.kill();
  }
}

if (process.argv.includes('--holder')) await holder();
else await requester();
