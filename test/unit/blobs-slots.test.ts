// Node-wide limits of the fetcher (swarm/blobs/slots.ts, rate-meter.ts): pieces in flight shared by
// every download, and a peer piece's time limit that follows the rate the node receives at.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pieceTimeoutMs, RateMeter } from '../../swarm/blobs/rate-meter.ts';
import { PieceSlots } from '../../swarm/blobs/slots.ts';

test('piece slots: taken up to the cap; a release wakes the longest waiter once; a withdrawn waiter is skipped', () => {
  const s = new PieceSlots(2);
  assert.ok(s.tryTake() && s.tryTake());
  assert.equal(s.tryTake(), false);
  const woke: string[] = [];
  s.wait(() => woke.push('first'));
  const cancel = s.wait(() => woke.push('withdrawn'));
  s.wait(() => woke.push('third'));
  cancel();
  s.release();
  assert.deepEqual(woke, ['first']);
  assert.equal(s.used, 1);
  s.release();
  assert.deepEqual(woke, ['first', 'third']);
  s.release();
  assert.equal(s.used, 0, 'never below zero');
  assert.throws(() => new PieceSlots(0), /positive integer/);
});

test('rate meter: bytes per second over the window, unknown before two pieces, old pieces age out', () => {
  const m = new RateMeter({ windowMs: 10_000 });
  m.record(1_000_000, 0);
  assert.equal(m.rate(500), undefined);
  m.record(1_000_000, 2000);
  assert.equal(m.rate(2000), 1_000_000, '2 MB since the first piece 2 s ago');
  m.record(1_000_000, 11_000);
  // At 11.5 s the first piece (t = 0) left the 10 s window: 2 MB over 10 s.
  assert.equal(m.rate(11_500), 200_000);
});

test('peer piece time limit: the floor while nothing is measured or the link is fast; grows with the bytes in flight on a slow link', () => {
  assert.equal(pieceTimeoutMs(5000, 8 * 2 ** 20, undefined), 5000);
  // 100 Mbit/s, 8 MiB in flight: 0.67 s of bytes, × 3 = 2 s < the floor.
  assert.equal(pieceTimeoutMs(5000, 8 * 2 ** 20, 12.5e6), 5000);
  // 20 Mbit/s, 8 MiB in flight: 3.4 s of bytes → 10.1 s.
  assert.equal(pieceTimeoutMs(5000, 8 * 2 ** 20, 2.5e6), 10066);
  // A stalled node (almost nothing arriving): capped at a minute.
  assert.equal(pieceTimeoutMs(5000, 8 * 2 ** 20, 10), 60_000);
});
