// The progress collector against the in-memory store and a stand-in for gossipsub (validator +
// message event, as gossipsub calls them): coalescing, gaps, history bound, ack never moving back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GossipSub, Message } from '@libp2p/gossipsub';
import { Keys } from '../../core/keys.ts';
import { MemoryStore } from '../../store/memory.ts';
import { ProgressCollector } from '../../swarm/progress/collector.ts';
import { encodeEvent, type ProgressEvent } from '../../swarm/progress/event.ts';

const SITE = 'unit';
const keys = new Keys('/t/', SITE);

function fakePubsub() {
  const target = new EventTarget();
  const topicValidators = new Map<string, (from: unknown, msg: Message) => unknown>();
  const pubsub = Object.assign(target, { topicValidators, subscribe: () => undefined, unsubscribe: () => undefined });
  /** Delivers like gossipsub: validator first, the message event only when accepted. */
  const deliver = async (fromPeer: string, data: Uint8Array, topic = `lpmos/${SITE}/progress/1`) => {
    const from = { toString: () => fromPeer };
    const msg = { type: 'signed', from, topic, data, sequenceNumber: 1n, signature: new Uint8Array(), key: undefined } as unknown as Message;
    const v = topicValidators.get(topic);
    const verdict = v ? await v(from, msg) : 'accept';
    if (verdict === 'accept') target.dispatchEvent(new CustomEvent('message', { detail: msg }));
    return verdict;
  };
  return { pubsub: pubsub as unknown as GossipSub, deliver };
}

const ev = (seq: number, extra: Partial<ProgressEvent> = {}): Uint8Array =>
  encodeEvent({ machine: 'web-01', seq, step: `s${seq}`, state: 'done', time: '2026-11-22T16:00:00.000Z', ...extra });

async function until(cond: () => Promise<boolean> | boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

async function ack(store: MemoryStore): Promise<number> {
  const kv = await store.get(keys.progressSeq('web-01'));
  return kv ? (JSON.parse(kv.value) as { seq: number }).seq : 0;
}

test('coalesces a burst into few writes, applies in order across a gap, bounds the history', async () => {
  const store = new MemoryStore();
  const { pubsub, deliver } = fakePubsub();
  const c = new ProgressCollector({ pubsub, store, keys, site: SITE, machineOf: (p) => (p === 'peer-1' ? 'web-01' : undefined), coalesceMs: 100, gapTimeoutMs: 200, logLimit: 5 });
  c.start();
  try {
    for (let i = 1; i <= 40; i++) if (i !== 20) await deliver('peer-1', ev(i));
    await until(async () => (await ack(store)) === 19);
    await sleep(50);
    assert.equal(await ack(store), 19, '21..40 wait behind the gap');
    assert.ok(c.stats.writes <= 3 * 2, `${c.stats.writes} writes for 19 events`);
    await until(async () => (await ack(store)) === 40);
    assert.equal(c.stats.skipped, 1);
    const { kvs } = await store.list(keys.machineLogs('web-01'));
    assert.deepEqual(kvs.map((kv) => (JSON.parse(kv.value) as { seq: number }).seq), [36, 37, 38, 39, 40]);
    // The late event is now a duplicate.
    await deliver('peer-1', ev(20));
    assert.equal(c.stats.duplicate, 1);
  } finally {
    await c.stop();
    await store.close();
  }
});

test('validator: refuses what is malformed, oversize, forged or from an unknown peer, and counts it', async () => {
  const store = new MemoryStore();
  const { pubsub, deliver } = fakePubsub();
  const c = new ProgressCollector({ pubsub, store, keys, site: SITE, machineOf: (p) => ({ 'peer-1': 'web-01', 'peer-2': 'web-02' })[p] });
  c.start();
  try {
    assert.equal(await deliver('peer-2', ev(1)), 'reject');
    assert.equal(await deliver('stranger', ev(1)), 'reject');
    assert.equal(await deliver('peer-1', new TextEncoder().encode('nope')), 'reject');
    assert.equal(await deliver('peer-1', new Uint8Array(2000)), 'reject');
    assert.deepEqual([c.stats.forged, c.stats.malformed, c.stats.oversize, c.stats.applied], [2, 1, 1, 0]);
    assert.equal(await deliver('peer-1', ev(1)), 'accept');
  } finally {
    await c.stop();
    await store.close();
  }
});

test('a restarted collector continues from etcd; the ack never moves back when another writer is ahead', async () => {
  const store = new MemoryStore();
  await store.put(keys.progressSeq('web-01'), JSON.stringify({ seq: 10, peerId: 'peer-1', at: '2026-11-22T16:00:00.000Z' }));
  const { pubsub, deliver } = fakePubsub();
  const c = new ProgressCollector({ pubsub, store, keys, site: SITE, machineOf: () => 'web-01', coalesceMs: 20 });
  c.start();
  try {
    await deliver('peer-1', ev(10));
    await deliver('peer-1', ev(11, { state: 'complete', step: 'report' }));
    await until(async () => (await ack(store)) === 11);
    assert.equal(c.stats.duplicate, 1);
    // complete: installed, waiting for the first boot (no spec here, so none is changed).
    const st = JSON.parse((await store.get(keys.status('web-01')))!.value) as { state: string; step: string };
    assert.deepEqual([st.state, st.step], ['provisioning', 'reboot']);
    assert.equal(c.stats.localboot, 0);
    // Another seed folded in more meanwhile.
    await store.put(keys.progressSeq('web-01'), JSON.stringify({ seq: 30, peerId: 'peer-1', at: '2026-11-22T16:00:00.000Z' }));
    await deliver('peer-1', ev(12));
    await until(async () => (await store.get(keys.machineLogEntry('web-01', 12))) !== undefined);
    assert.equal(await ack(store), 30);
  } finally {
    await c.stop();
    await store.close();
  }
});
