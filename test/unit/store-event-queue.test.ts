import assert from 'node:assert/strict';
import { it } from 'node:test';
import { EventQueue } from '../../store/event-queue.ts';

async function drain<T>(q: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of q) out.push(x);
  return out;
}

it('delivers in order, then ends after the queued items', async () => {
  let closed = 0;
  const q = new EventQueue<number>(() => closed++);
  q.push(1);
  q.push(2);
  const p = drain(q);
  q.push(3);
  q.end();
  q.push(4); // after end: dropped
  assert.deepEqual(await p, [1, 2, 3]);
  assert.equal(closed, 1);
});

it('fail(): queued items first, then the error', async () => {
  const q = new EventQueue<string>(() => undefined);
  q.push('a');
  q.fail(new Error('boom'));
  const got: string[] = [];
  await assert.rejects(async () => {
    for await (const x of q) got.push(x);
  }, /boom/);
  assert.deepEqual(got, ['a']);
});

it('abort(): drops what is queued and wakes a waiting consumer', async () => {
  const q = new EventQueue<number>(() => undefined);
  const p = drain(q);
  await new Promise((r) => setImmediate(r)); // the consumer is now waiting
  q.abort();
  assert.deepEqual(await p, []);
  const q2 = new EventQueue<number>(() => undefined);
  q2.push(1);
  q2.push(2);
  q2.abort();
  assert.deepEqual(await drain(q2), []);
});

it('break in for-await runs onClose once; a queue is iterated once', async () => {
  let closed = 0;
  const q = new EventQueue<number>(() => closed++);
  for (let i = 0; i < 5; i++) q.push(i);
  for await (const x of q) if (x === 1) break;
  assert.equal(closed, 1);
  await assert.rejects(drain(q), /iterated once/);
});

it('pauses the producer at the high-water mark and resumes it at half', async () => {
  const calls: string[] = [];
  const q = new EventQueue<number>(() => undefined, 10);
  q.onPause = () => calls.push(`pause@${q.size}`);
  q.onDrain = () => calls.push(`drain@${q.size}`);
  for (let i = 0; i < 12; i++) q.push(i);
  assert.deepEqual(calls, ['pause@10']);
  assert.equal(q.paused, true);
  const seen: number[] = [];
  for await (const x of q) {
    seen.push(x);
    if (seen.length === 12) break;
  }
  assert.deepEqual(calls, ['pause@10', 'drain@5']);
  assert.equal(q.paused, false);
  assert.deepEqual(seen, Array.from({ length: 12 }, (_, i) => i));
});

it('keeps order across internal compaction of a long backlog', async () => {
  const q = new EventQueue<number>(() => undefined, 1_000_000);
  const n = 20_000;
  for (let i = 0; i < n; i++) q.push(i);
  q.end();
  const got = await drain(q);
  assert.equal(got.length, n);
  assert.ok(got.every((x, i) => x === i));
});
