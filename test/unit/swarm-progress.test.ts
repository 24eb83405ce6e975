// Progress protocol, pure parts: codec limits, ordering, folding into status/history, publisher
// throttle/resend/ack with a recording pubsub.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Keys } from '../../core/keys.ts';
import { MemoryStore } from '../../store/memory.ts';
import { clampMessage, decodeEvent, encodeEvent, MAX_EVENT_BYTES, progressTopic, type ProgressEvent } from '../../swarm/progress/event.ts';
import { installFinished, shouldLog, statusAfter, statusFor } from '../../swarm/progress/fold.ts';
import { ProgressPublisher } from '../../swarm/progress/publisher.ts';
import { ProgressReporter } from '../../swarm/progress/reporter.ts';
import { Sequencer } from '../../swarm/progress/sequencer.ts';

const T = '2026-11-22T16:00:00.000Z';
const ev = (seq: number, extra: Partial<ProgressEvent> = {}): ProgressEvent => ({ machine: 'web-01', seq, step: 'debootstrap', state: 'running', time: T, ...extra });

test('codec: round trip, topic per site', () => {
  const e = ev(7, { percent: 42.5, bytes: 1234, message: 'unpacking base-files' });
  const r = decodeEvent(encodeEvent(e));
  assert.deepEqual(r, { ok: true, event: e });
  assert.equal(progressTopic('rack-a'), 'lpmos/rack-a/progress/1');
});

test('codec: oversize, malformed JSON, bad fields, extra fields and invalid UTF-8 are refused with a reason', () => {
  assert.deepEqual(decodeEvent(new Uint8Array(MAX_EVENT_BYTES + 1).fill(32)).ok, false);
  assert.equal((decodeEvent(new Uint8Array(MAX_EVENT_BYTES + 1)) as { reason: string }).reason, 'oversize');
  const bad = (o: unknown) => (decodeEvent(Buffer.from(typeof o === 'string' ? o : JSON.stringify(o))) as { ok: false; reason: string; detail: string });
  assert.equal(bad('{"machine":').reason, 'malformed');
  assert.equal(bad({ ...ev(1), seq: 0 }).reason, 'malformed');
  assert.equal(bad({ ...ev(1), seq: 1.5 }).reason, 'malformed');
  assert.equal(bad({ ...ev(1), percent: 101 }).reason, 'malformed');
  assert.equal(bad({ ...ev(1), state: 'exploded' }).reason, 'malformed');
  assert.equal(bad({ ...ev(1), machine: 'Not A Name' }).reason, 'malformed');
  assert.match(bad({ ...ev(1), extra: 1 }).detail, /extra|unrecognized/i);
  assert.equal(decodeEvent(new Uint8Array([0x7b, 0xff, 0x7d])).ok, false);
  assert.throws(() => encodeEvent({ ...ev(1), message: 'x'.repeat(5000) }));
});

test('clampMessage keeps any text within the event size', () => {
  const worst = clampMessage('\u20ac\u0001'.repeat(5000));
  const bytes = encodeEvent({ ...ev(Number.MAX_SAFE_INTEGER, { percent: 99.999, bytes: Number.MAX_SAFE_INTEGER, code: 'E_' + 'X'.repeat(30) }), machine: 'm'.repeat(64), step: 's'.repeat(64), message: worst });
  assert.ok(bytes.length <= MAX_EVENT_BYTES, `${bytes.length}`);
  assert.ok(!worst.includes('\u0001'));
});

test('sequencer: in order once, holds events behind a gap, skips a gap after the timeout', () => {
  const s = new Sequencer<ProgressEvent>(10, { gapTimeoutMs: 1000, maxPending: 4 });
  assert.deepEqual(s.offer(ev(10), 0), { apply: [], duplicate: true });
  assert.deepEqual(s.offer(ev(11), 0).apply.map((e) => e.seq), [11]);
  assert.deepEqual(s.offer(ev(13), 0).apply, []);
  assert.equal(s.offer(ev(13), 1).duplicate, true);
  assert.deepEqual(s.offer(ev(14), 0).apply, []);
  assert.deepEqual(s.offer(ev(12), 5).apply.map((e) => e.seq), [12, 13, 14]);
  s.offer(ev(16), 100);
  assert.deepEqual(s.expire(1099), []);
  assert.deepEqual(s.expire(1100).map((e) => e.seq), [16]);
  assert.equal(s.skipped, 1);
  // A full buffer skips at once.
  for (const n of [18, 19, 20, 21]) assert.deepEqual(s.offer(ev(n), 2000).apply, []);
  assert.deepEqual(s.offer(ev(22), 2000).apply.map((e) => e.seq), [18, 19, 20, 21, 22]);
});

test('fold: status per event state; history keeps the story, not every tick', () => {
  assert.deepEqual(statusFor(ev(1, { percent: 5 })), { state: 'provisioning', step: 'debootstrap', progress: 5 });
  assert.deepEqual(statusFor(ev(1, { state: 'done' })), { state: 'provisioning', step: 'debootstrap', progress: 100 });
  assert.deepEqual(statusFor(ev(1, { state: 'failed', code: 'E_DISK', message: 'no disk' })).lastError, { code: 'E_DISK', message: 'no disk', at: T });
  // complete: installed, not yet booted; the first-boot report makes it provisioned.
  assert.deepEqual(statusFor(ev(1, { state: 'complete', step: 'report' })), { state: 'provisioning', step: 'reboot', progress: 100 });
  const booted = { state: 'provisioned' as const, step: 'firstboot', since: T, updatedAt: T };
  assert.equal(statusAfter(booted, ev(1, { state: 'complete' })), undefined, 'a resent complete leaves a booted machine alone');
  assert.equal(statusAfter(booted, ev(1, { state: 'running', percent: 1 }))?.state, 'provisioning', 'a new install starts over');
  assert.equal(installFinished([ev(1, { state: 'done' }), ev(2, { state: 'complete' })]), true);
  assert.equal(installFinished([ev(1, { state: 'complete' }), ev(2, { state: 'failed' })]), false);
  assert.equal(installFinished([ev(1, { state: 'done' })]), false);
  assert.equal(shouldLog(undefined, ev(1, { percent: 1 })), true);
  assert.equal(shouldLog(ev(1, { percent: 1 }), ev(2, { percent: 5 })), false);
  assert.equal(shouldLog(ev(1, { percent: 5 }), ev(2, { percent: 10 })), true);
  assert.equal(shouldLog(ev(1, { percent: 5 }), ev(2, { percent: 6, message: 'x' })), true);
  assert.equal(shouldLog(ev(1, { percent: 5 }), ev(2, { step: 'grub' })), true);
  assert.equal(shouldLog(ev(1, { percent: 5 }), ev(2, { state: 'done' })), true);
});

function recorder() {
  const sent: ProgressEvent[] = [];
  let fail = false;
  const pubsub = {
    publish: async (_topic: string, data?: Uint8Array) => {
      if (fail) throw new Error('NoPeersSubscribedToTopic');
      const r = decodeEvent(data ?? new Uint8Array());
      assert.ok(r.ok);
      sent.push(r.event);
      return { recipients: [] };
    },
  };
  return { sent, pubsub, setFail: (f: boolean) => (fail = f) };
}

test('publisher: numbers from firstSeq, throttles ticks of a step, sends state changes at once', async () => {
  let now = 1000;
  const r = recorder();
  const p = new ProgressPublisher({ pubsub: r.pubsub, topic: 't', machine: 'web-01', firstSeq: 41, throttleMs: 250, now: () => now });
  p.report({ step: 'debootstrap', state: 'running', percent: 1 });
  for (let i = 2; i <= 9; i++) p.report({ step: 'debootstrap', state: 'running', percent: i });
  p.report({ step: 'debootstrap', state: 'done' });
  now += 10;
  p.report({ step: 'grub', state: 'running', message: 'installing' });
  await new Promise((res) => setImmediate(res));
  assert.deepEqual(r.sent.map((e) => [e.seq, e.step, e.state, e.percent]), [
    [41, 'debootstrap', 'running', 1],
    [42, 'debootstrap', 'done', undefined],
    [43, 'grub', 'running', undefined],
  ]);
  assert.equal(p.stats.throttled, 8);
  p.stop();
});

test('publisher: a held tick goes out after the throttle interval', async () => {
  const r = recorder();
  const p = new ProgressPublisher({ pubsub: r.pubsub, topic: 't', machine: 'web-01', throttleMs: 30 });
  p.report({ step: 's', state: 'running', percent: 1 });
  p.report({ step: 's', state: 'running', percent: 2 });
  p.report({ step: 's', state: 'running', percent: 3 });
  await new Promise((res) => setTimeout(res, 80));
  assert.deepEqual(r.sent.map((e) => [e.seq, e.percent]), [[1, 1], [2, 3]]);
  p.stop();
});

test('publisher: resends what is not acknowledged, stops after the ack, drops the oldest beyond the bound', async () => {
  let now = 0;
  const r = recorder();
  const p = new ProgressPublisher({ pubsub: r.pubsub, topic: 't', machine: 'web-01', resendAfterMs: 60, maxUnacked: 3, now: () => now });
  r.setFail(true);
  for (let i = 0; i < 4; i++) p.report({ step: `s${i}`, state: 'done' });
  await new Promise((res) => setImmediate(res));
  assert.deepEqual(p.unacked(), [2, 3, 4]);
  assert.equal(p.stats.dropped, 1);
  assert.equal(p.stats.publishErrors, 4);
  r.setFail(false);
  p.start();
  now = 100;
  await new Promise((res) => setTimeout(res, 80));
  assert.deepEqual(r.sent.map((e) => e.seq), [2, 3, 4]);
  p.ack(3);
  assert.deepEqual(p.unacked(), [4]);
  now = 200;
  await new Promise((res) => setTimeout(res, 80));
  assert.deepEqual(r.sent.map((e) => e.seq), [2, 3, 4, 4]);
  p.ack(4);
  assert.deepEqual(p.unacked(), []);
  p.stop();
});

test('publisher: an invalid step is logged and dropped, never thrown into the install', () => {
  const r = recorder();
  const p = new ProgressPublisher({ pubsub: r.pubsub, topic: 't', machine: 'web-01' });
  p.report({ step: 'Bad Step!', state: 'running' });
  assert.equal(p.stats.dropped, 1);
  assert.equal(p.nextSeq, 1);
});

test('reporter: numbering resumes after the seed\'s acknowledged seq (a restarted agent), and acks from etcd clear the publisher', async () => {
  const store = new MemoryStore();
  const keys = new Keys('/t/', 'site');
  await store.put(keys.progressSeq('web-01'), JSON.stringify({ seq: 17, peerId: 'x', at: T }));
  const r = recorder();
  const reporter = await ProgressReporter.start({ pubsub: r.pubsub, store, keys, site: 'site', machine: 'web-01' });
  try {
    reporter.report({ step: 'a', state: 'done' });
    reporter.report({ step: 'b', state: 'done' });
    await new Promise((res) => setImmediate(res));
    assert.deepEqual(r.sent.map((e) => e.seq), [18, 19]);
    assert.deepEqual(reporter.publisher.unacked(), [18, 19]);
    await store.put(keys.progressSeq('web-01'), JSON.stringify({ seq: 18, peerId: 'x', at: T }));
    const end = Date.now() + 2000;
    while (reporter.publisher.unacked().length !== 1 && Date.now() < end) await new Promise((res) => setTimeout(res, 5));
    assert.deepEqual(reporter.publisher.unacked(), [19]);
  } finally {
    await reporter.stop();
    await store.close();
  }
});

test('publisher: resends a window of the oldest events and backs off while nothing is acknowledged', async () => {
  let now = 0;
  const r = recorder();
  const p = new ProgressPublisher({ pubsub: r.pubsub, topic: 't', machine: 'web-01', resendAfterMs: 40, maxResendMs: 160, resendWindow: 2, now: () => now });
  for (let i = 0; i < 5; i++) p.report({ step: `s${i}`, state: 'done' });
  await new Promise((res) => setImmediate(res));
  r.sent.length = 0;
  p.start();
  const rounds: string[] = [];
  const at = async (t: number) => {
    now = t;
    await new Promise((res) => setTimeout(res, 60)); // several resend ticks at this instant
    rounds.push(`${t}:${r.sent.splice(0).map((e) => e.seq).join(',')}`);
  };
  for (const t of [40, 80, 120, 160, 200, 240, 280, 320, 400]) await at(t);
  // The ack moves: back to the base interval, and the window slides.
  p.ack(1);
  await at(440);
  p.stop();
  assert.deepEqual(rounds, ['40:1,2', '80:', '120:1,2', '160:', '200:', '240:', '280:1,2', '320:', '400:', '440:2,3']);
});
