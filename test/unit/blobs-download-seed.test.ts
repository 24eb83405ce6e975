// The fetcher's side of the seed-piece arbitration (swarm/blobs/download.ts) with the real download
// loop, an in-memory piece store and scripted sources: a refusal whose answer names a holder sends
// the fetcher to that holder (no refusal counted, the seed never asked for the piece again); a
// refusal nobody explains counts, and after `seedAfterDenials` the piece comes from the seed; a busy
// answer pauses the seed pieces of every download sharing the pause; node slots cap the pieces in
// flight across downloads.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { silentLogger } from '../../core/log.ts';
import type { BlobManifest, HaveEntry } from '../../swarm/blobs/api.ts';
import { fullBits } from '../../swarm/blobs/bitfield.ts';
import { DEFAULT_TUNING, download, type DownloadDeps, type SeedVerdict } from '../../swarm/blobs/download.ts';
import { manifestOf, pieceRange } from '../../swarm/blobs/manifest.ts';
import { MemoryPieceStore } from '../../swarm/blobs/memory-store.ts';
import { emptyStats } from '../../swarm/blobs/service-options.ts';
import { PieceSlots } from '../../swarm/blobs/slots.ts';

const KiB = 1024;
const PIECE = 16 * KiB;

function blob(pieces: number): { bytes: Uint8Array; m: BlobManifest } {
  const bytes = new Uint8Array(randomBytes(pieces * PIECE));
  return { bytes, m: manifestOf(bytes, PIECE) };
}

const slice = (bytes: Uint8Array, m: BlobManifest, i: number): Uint8Array => {
  const r = pieceRange(m, i);
  return bytes.slice(r.start, r.end);
};

interface Script {
  deps: DownloadDeps;
  seedAsked: number[];
  seedFetched: number[];
  peerFetched: number[];
  known: HaveEntry[];
}

function script(bytes: Uint8Array, m: BlobManifest, askSeed: (i: number, s: Script) => SeedVerdict, extra: Partial<DownloadDeps> = {}): Script {
  const s: Script = { seedAsked: [], seedFetched: [], peerFetched: [], known: [], deps: undefined as unknown as DownloadDeps };
  s.deps = {
    store: new MemoryPieceStore({ budget: 4 * bytes.length }),
    self: 'me',
    holders: () => s.known,
    forget: () => undefined,
    peerPiece: async (_h, mm, i) => (s.peerFetched.push(i), slice(bytes, mm, i)),
    seedPiece: async (_u, mm, i) => (s.seedFetched.push(i), slice(bytes, mm, i)),
    askSeed: async (_sha, i) => (s.seedAsked.push(i), askSeed(i, s)),
    claim: () => () => undefined,
    stats: emptyStats(),
    log: silentLogger(),
    tuning: { ...DEFAULT_TUNING, concurrency: 1, seedConcurrency: 1 },
    ...extra,
  };
  return s;
}

test('a refusal that names the holder: the piece comes from that holder, the seed is not asked for it again', async () => {
  const { bytes, m } = blob(1);
  const s = script(bytes, m, (_i, sc) => {
    // The tracker names "x" as the holder; the client put it into the index.
    sc.known = [{ peerId: 'x', sha256: m.sha256, pieces: 1, have: fullBits(1), addrs: [], at: Date.now() }];
    return { verdict: 'refused' };
  });
  const r = await download(s.deps, m, { seedUrl: 'http://seed/file' });
  assert.deepEqual(s.seedAsked, [0]);
  assert.deepEqual(s.seedFetched, []);
  assert.deepEqual(s.peerFetched, [0]);
  assert.equal(r.fromPeers, bytes.length);
  assert.equal(s.deps.stats.bytesFromSeed, 0);
});

test('refusals nobody explains (a holder this fetch cannot use) count: after 3 the piece comes from the seed', async () => {
  const { bytes, m } = blob(1);
  const counters = { seedForcedFailures: 0, seedForcedDenials: 0, seedBusy: 0 };
  const s = script(bytes, m, () => ({ verdict: 'refused' }), { counters });
  const t0 = Date.now();
  const r = await download(s.deps, m, { seedUrl: 'http://seed/file' });
  assert.equal(s.seedAsked.length, 3, 'asked three times (a second apart)');
  assert.deepEqual(s.seedFetched, [0]);
  assert.equal(r.fromSeed, bytes.length);
  assert.equal(counters.seedForcedDenials, 1);
  assert.ok(Date.now() - t0 >= 2000, 'refused pieces are asked again only after a second');
});

test('busy: no seed piece of any download sharing the pause until retryMs has passed', async () => {
  const a = blob(1);
  const b = blob(1);
  const seedPause = { until: 0 };
  const counters = { seedForcedFailures: 0, seedForcedDenials: 0, seedBusy: 0 };
  let busy = true;
  const asks: number[] = [];
  const verdict = (): SeedVerdict => {
    asks.push(Date.now());
    if (busy) {
      busy = false;
      return { verdict: 'busy', retryMs: 800 };
    }
    return { verdict: 'granted' };
  };
  const sa = script(a.bytes, a.m, verdict, { seedPause, counters });
  const sb = script(b.bytes, b.m, verdict, { seedPause, counters });
  const t0 = Date.now();
  const first = download(sa.deps, a.m, { seedUrl: 'http://seed/a' });
  // b starts after a was told "busy": it waits too, although it never asked.
  await new Promise((r) => setTimeout(r, 50));
  await Promise.all([first, download(sb.deps, b.m, { seedUrl: 'http://seed/b' })]);
  assert.equal(counters.seedBusy, 1);
  assert.equal(asks.length, 3, 'a busy, then a and b granted');
  assert.ok(asks[1]! - t0 >= 600 && asks[2]! - t0 >= 600, `asked again after ${asks.slice(1).map((x) => x - t0).join(', ')} ms (retry 800 ms ± 25 %)`);
  assert.deepEqual([sa.seedFetched, sb.seedFetched], [[0], [0]]);
});

test('node slots: two downloads with 4 pieces in flight each share 2 slots', async () => {
  const a = blob(8);
  const b = blob(8);
  const slots = new PieceSlots(2);
  let inFlight = 0;
  let most = 0;
  const peerPiece = (bytes: Uint8Array) => async (_h: HaveEntry, mm: BlobManifest, i: number): Promise<Uint8Array> => {
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, 20));
    inFlight--;
    return slice(bytes, mm, i);
  };
  const holder = (m: BlobManifest): HaveEntry[] => ['x', 'y'].map((peerId) => ({ peerId, sha256: m.sha256, pieces: 8, have: fullBits(8), addrs: [], at: Date.now() }));
  const tuning = { ...DEFAULT_TUNING, concurrency: 4, perHolder: 2 };
  const sa = script(a.bytes, a.m, () => ({ verdict: 'refused' }), { slots, tuning, peerPiece: peerPiece(a.bytes), holders: () => holder(a.m) });
  const sb = script(b.bytes, b.m, () => ({ verdict: 'refused' }), { slots, tuning, peerPiece: peerPiece(b.bytes), holders: () => holder(b.m) });
  const [ra, rb] = await Promise.all([download(sa.deps, a.m, {}), download(sb.deps, b.m, {})]);
  assert.equal(ra.fromPeers + rb.fromPeers, a.bytes.length + b.bytes.length);
  assert.equal(most, 2, 'never more pieces in flight than the node has slots');
  assert.equal(slots.used, 0, 'every slot given back');
});
