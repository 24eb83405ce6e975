// One contract for both piece stores (DESIGN §5.3): the memory store (agent) and the disk store
// (seed) open, hold, serve, pin and evict the same way; the disk store also survives a restart.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { BlobManifest, PieceStore, StoreEvent } from '../../swarm/blobs/api.ts';
import { countBits } from '../../swarm/blobs/bitfield.ts';
import { DiskPieceStore } from '../../swarm/blobs/disk-store.ts';
import { manifestOf, pieceRange } from '../../swarm/blobs/manifest.ts';
import { MemoryPieceStore } from '../../swarm/blobs/memory-store.ts';

const KiB = 1024;
const PS = 16 * KiB;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function blob(size: number): { bytes: Buffer; m: BlobManifest } {
  const bytes = randomBytes(size);
  return { bytes, m: manifestOf(bytes, PS) };
}

function piece(b: { bytes: Buffer; m: BlobManifest }, i: number): Buffer {
  const r = pieceRange(b.m, i);
  return b.bytes.subarray(r.start, r.end);
}

async function fill(s: PieceStore, b: { bytes: Buffer; m: BlobManifest }): Promise<void> {
  await s.open(b.m);
  for (let i = 0; i < b.m.pieces.length; i++) await s.putPiece(b.m.sha256, i, piece(b, i));
}

async function readAll(s: PieceStore, sha: string, range?: { start: number; end: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s.read(sha, range)) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

const backends: [string, (budget: number) => Promise<PieceStore>][] = [
  ['memory', async (budget) => new MemoryPieceStore({ budget })],
  [
    'disk',
    async (budget) => {
      const dir = mkdtempSync(join(tmpdir(), `lpmos-blobstore-${process.pid}-`));
      dirs.push(dir);
      return DiskPieceStore.create({ dir, budget });
    },
  ],
];

for (const [name, make] of backends) {
  describe(`piece store contract: ${name}`, () => {
    test('partial blobs: bitfield, pieces back, events, complete', async () => {
      const s = await make(1024 * KiB);
      const b = blob(50 * KiB);
      const events: StoreEvent[] = [];
      s.on((e) => events.push(e));
      const st = await s.open(b.m);
      assert.equal(st.count, 0);
      assert.equal(s.used, b.m.size);
      await s.putPiece(b.m.sha256, 2, piece(b, 2));
      assert.equal(s.get(b.m.sha256)!.count, 1);
      assert.equal(countBits(s.get(b.m.sha256)!.have, 4), 1);
      assert.deepEqual(Buffer.from((await s.getPiece(b.m.sha256, 2))!), piece(b, 2));
      assert.equal(await s.getPiece(b.m.sha256, 1), undefined);
      assert.deepEqual(await readAll(s, b.m.sha256, { start: 2 * PS + 5, end: 3 * PS }), b.bytes.subarray(2 * PS + 5, 3 * PS));
      assert.throws(() => s.read(b.m.sha256, { start: 0, end: 10 }), { code: 'E_NOT_FOUND' });
      await assert.rejects(s.putPiece(b.m.sha256, 0, piece(b, 1).subarray(1)), { code: 'E_VALIDATION' });
      await assert.rejects(s.putPiece(b.m.sha256, 9, piece(b, 1)), { code: 'E_VALIDATION' });
      await assert.rejects(s.putPiece('f'.repeat(64), 0, piece(b, 1)), { code: 'E_NOT_FOUND' });
      for (const i of [0, 1, 3]) await s.putPiece(b.m.sha256, i, piece(b, i));
      await s.putPiece(b.m.sha256, 3, piece(b, 3)); // again: no-op
      assert.equal(s.get(b.m.sha256)!.complete, true);
      assert.deepEqual(await readAll(s, b.m.sha256), b.bytes);
      assert.deepEqual(
        events.map((e) => e.type),
        ['piece', 'piece', 'piece', 'piece', 'complete'],
      );
      assert.equal((await s.open(b.m)).complete, true, 'opening again keeps it');
      await s.close();
    });

    test('budget: least recently used unpinned blobs are evicted; pinned ones never; too big is refused', async () => {
      const s = await make(100 * KiB);
      const a = blob(40 * KiB);
      const b = blob(40 * KiB);
      const c = blob(40 * KiB);
      await fill(s, a);
      await fill(s, b);
      const unpinB = s.pin(b.m.sha256);
      await s.getPiece(a.m.sha256, 0); // a used after b
      const removed: string[] = [];
      s.on((e) => e.type === 'removed' && removed.push(e.sha256));
      await fill(s, c); // needs room: b is pinned, so a goes although it was used last
      assert.deepEqual(removed, [a.m.sha256]);
      assert.equal(s.get(a.m.sha256), undefined);
      assert.ok(s.get(b.m.sha256) && s.get(c.m.sha256));
      assert.equal(s.used, 80 * KiB);
      const d = blob(40 * KiB);
      const unpinC = s.pin(c.m.sha256);
      await assert.rejects(s.open(d.m), { code: 'E_UNAVAILABLE' }, 'everything pinned');
      unpinB();
      unpinB(); // once only
      assert.equal(s.get(b.m.sha256)!.pinned, 0);
      await fill(s, d);
      assert.equal(s.get(b.m.sha256), undefined, 'b evicted once unpinned');
      assert.ok(s.get(c.m.sha256));
      unpinC();
      await assert.rejects(s.open(blob(101 * KiB).m), { code: 'E_UNAVAILABLE' });
      await s.remove(d.m.sha256);
      assert.equal(s.used, 40 * KiB);
      await s.close();
    });

    test('empty blob is complete at once', async () => {
      const s = await make(100 * KiB);
      const e = blob(0);
      assert.equal((await s.open(e.m)).complete, true);
      assert.deepEqual(await readAll(s, e.m.sha256), Buffer.alloc(0));
      await s.close();
    });
  });
}

test('disk store: blobs and partial bitfields survive a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), `lpmos-blobstore-${process.pid}-`));
  dirs.push(dir);
  const s1 = await DiskPieceStore.create({ dir });
  const full = blob(33 * KiB);
  const part = blob(50 * KiB);
  await fill(s1, full);
  await s1.open(part.m);
  await s1.putPiece(part.m.sha256, 1, piece(part, 1));
  await s1.close();
  const s2 = await DiskPieceStore.create({ dir });
  assert.equal(s2.get(full.m.sha256)!.complete, true);
  assert.deepEqual(await readAll(s2, full.m.sha256), full.bytes);
  assert.ok(s2.filePath(full.m.sha256)?.endsWith('.data'));
  assert.equal(s2.get(part.m.sha256)!.count, 1);
  assert.equal(s2.filePath(part.m.sha256), undefined);
  assert.deepEqual(Buffer.from((await s2.getPiece(part.m.sha256, 1))!), piece(part, 1));
  assert.equal(s2.used, full.m.size + part.m.size);
});

test('memory store: a piece in a buffer of its own is kept without a copy; a view into a larger buffer is copied', async () => {
  const s = new MemoryPieceStore({ budget: 1024 * KiB });
  const b = blob(3 * PS);
  await s.open(b.m);
  const own = new Uint8Array(piece(b, 0));
  await s.putPiece(b.m.sha256, 0, own);
  assert.equal(await s.getPiece(b.m.sha256, 0), own);
  const view = piece(b, 1);
  await s.putPiece(b.m.sha256, 1, view);
  const kept = (await s.getPiece(b.m.sha256, 1))!;
  assert.notEqual(kept.buffer, view.buffer);
  const before = Buffer.from(kept);
  b.bytes.fill(0);
  assert.deepEqual(Buffer.from((await s.getPiece(b.m.sha256, 1))!), before);
  await s.close();
});
