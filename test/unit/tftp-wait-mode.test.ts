// The TFTP worker's choice between waiting for ACKs awake and asleep (seed/tftp/wait-mode.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WaitChooser } from '../../seed/tftp/wait-mode.ts';

/** Feeds `n` ACKs `stepMs` apart starting at `t`; returns the time after the last. */
function acks(c: WaitChooser, n: number, t: number, stepMs: number, caught = true): number {
  for (let i = 0; i < n; i++) {
    c.ack(t, caught && c.mode === 'awake');
    t += stepMs;
  }
  return t;
}

const opts = { probeBlocks: 10, runBlocks: 50, margin: 0.9, giveUp: 3 };

test('probes awake, then asleep, and runs awake when awake is clearly faster', () => {
  const c = new WaitChooser(opts);
  assert.equal(c.mode, 'awake');
  let t = acks(c, 10, 0, 0.05);
  assert.equal(c.mode, 'asleep', 'asleep is measured after awake');
  t = acks(c, 10, t, 0.2);
  assert.equal(c.mode, 'awake');
  assert.deepEqual(c.chosen, { awake: 1, asleep: 0 });
  t = acks(c, 49, t, 0.05);
  assert.equal(c.mode, 'awake', 'for the whole run');
  acks(c, 1, t, 0.05);
  assert.equal(c.mode, 'awake', 'then measures again, starting awake');
  assert.deepEqual(c.chosen, { awake: 1, asleep: 0 });
});

test('runs asleep when asleep is faster, or awake wins by less than the margin', () => {
  for (const [awakeMs, asleepMs] of [[0.05, 0.03], [0.095, 0.1]] as const) {
    const c = new WaitChooser(opts);
    const t = acks(c, 10, 0, awakeMs);
    acks(c, 10, t, asleepMs);
    assert.equal(c.mode, 'asleep', `awake ${awakeMs} ms, asleep ${asleepMs} ms per ACK`);
    assert.deepEqual(c.chosen, { awake: 0, asleep: 1 });
  }
});

test('a client slower than the awake wait: giveUp misses in a row end the awake probe, asleep wins', () => {
  const c = new WaitChooser(opts);
  c.missed();
  c.ack(0, false);
  c.missed();
  assert.equal(c.mode, 'awake', 'misses not in a row do not count');
  c.ack(1, true); // caught: the count starts again
  c.missed();
  c.missed();
  assert.equal(c.mode, 'awake');
  c.missed();
  assert.equal(c.mode, 'asleep', 'three in a row');
  acks(c, 10, 2, 0.5);
  assert.equal(c.mode, 'asleep');
  assert.deepEqual(c.chosen, { awake: 0, asleep: 1 });
});

test('a client that slows down during an awake run: back to asleep after giveUp misses', () => {
  const c = new WaitChooser(opts);
  let t = acks(c, 10, 0, 0.05);
  t = acks(c, 10, t, 0.2);
  assert.equal(c.mode, 'awake');
  acks(c, 5, t, 0.05);
  for (let i = 0; i < 3; i++) c.missed();
  assert.equal(c.mode, 'asleep');
  acks(c, 10, t + 10, 2);
  assert.equal(c.mode, 'asleep', 'the awake measurement was thrown away: asleep wins');
  assert.deepEqual(c.chosen, { awake: 1, asleep: 1 });
});

test('misses while asleep are ignored', () => {
  const c = new WaitChooser(opts);
  const t = acks(c, 10, 0, 0.05);
  for (let i = 0; i < 10; i++) c.missed();
  assert.equal(c.mode, 'asleep');
  acks(c, 10, t, 0.2);
  assert.equal(c.mode, 'awake');
});
