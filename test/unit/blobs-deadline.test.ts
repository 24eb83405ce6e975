// swarm/blobs/deadline.ts: a request's signal aborts after its time or with its parent, and a
// request that finished (done) leaves neither a timer nor a listener behind.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { deadline } from '../../swarm/blobs/deadline.ts';

test('aborts after its time with E_TIMEOUT and says so', async () => {
  const d = deadline(undefined, 20);
  await sleep(60);
  assert.equal(d.signal.aborted, true);
  assert.equal(d.timedOut, true);
  assert.equal((d.signal.reason as { code?: string }).code, 'E_TIMEOUT');
});

test('aborts with its parent (the parent reason), not as a timeout; an aborted parent aborts at once', () => {
  const parent = new AbortController();
  const d = deadline(parent.signal, 10_000);
  parent.abort(new Error('stop'));
  assert.equal(d.signal.aborted, true);
  assert.equal(d.timedOut, false);
  assert.equal((d.signal.reason as Error).message, 'stop');
  d.done();
  assert.equal(deadline(parent.signal, 10_000).signal.aborted, true);
});

test('done: no timer fires later, no listener stays on the parent', async () => {
  const parent = new AbortController();
  let listeners = 0;
  const add = parent.signal.addEventListener.bind(parent.signal);
  const remove = parent.signal.removeEventListener.bind(parent.signal);
  parent.signal.addEventListener = ((...a: Parameters<typeof add>) => (listeners++, add(...a))) as typeof add;
  parent.signal.removeEventListener = ((...a: Parameters<typeof remove>) => (listeners--, remove(...a))) as typeof remove;
  for (let i = 0; i < 100; i++) deadline(parent.signal, 20).done();
  assert.equal(listeners, 0);
  const d = deadline(parent.signal, 20);
  d.done();
  await sleep(60);
  assert.equal(d.signal.aborted, false);
  assert.equal(d.timedOut, false);
});
