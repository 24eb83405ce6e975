// Enrollment (CAS, one peer id per machine) and the allow-list that follows it through a watch,
// on the in-memory store twin.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { Keys } from '../../core/keys.ts';
import { addMachine } from '../../core/registry/machines.ts';
import type { Store } from '../../core/store/store.ts';
import { MemoryStore } from '../../store/memory.ts';
import { enrollPeer, unenrollMachine } from '../../swarm/peers/enroll.ts';
import { PeerAllowList } from '../../swarm/peers/allow-list.ts';

const newPeerId = async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();

async function machines(store: Store, keys: Keys, ...names: string[]): Promise<void> {
  let n = 0;
  for (const name of names) await addMachine(store, keys, { name, macs: [`52:54:00:00:00:${(++n).toString(16).padStart(2, '0')}`] });
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

test('enrollPeer records the peer and the machine index; re-enrolling replaces the old peer id; a peer id cannot serve two machines', async () => {
  const store = new MemoryStore();
  const keys = new Keys('/t/', 'site');
  await machines(store, keys, 'web-01', 'web-02');
  const a = await newPeerId();
  const b = await newPeerId();
  const rec = await enrollPeer(store, keys, { peerId: a, machine: 'web-01', addrs: ['/ip4/10.0.0.5/tcp/4001'] });
  assert.equal(rec.machine, 'web-01');
  assert.ok(await store.get(keys.swarmPeer(a)));
  assert.deepEqual(JSON.parse((await store.get(keys.swarmMachinePeer('web-01')))!.value), { peerId: a });
  await enrollPeer(store, keys, { peerId: a, machine: 'web-01', addrs: [] }); // idempotent
  await enrollPeer(store, keys, { peerId: b, machine: 'web-01', addrs: [] });
  assert.equal(await store.get(keys.swarmPeer(a)), undefined);
  assert.ok(await store.get(keys.swarmPeer(b)));
  await assert.rejects(enrollPeer(store, keys, { peerId: b, machine: 'web-02', addrs: [] }), { code: 'E_DUPLICATE' });
  await assert.rejects(enrollPeer(store, keys, { peerId: 'not-a-peer', machine: 'web-02', addrs: [] }), { code: 'E_VALIDATION' });
  await assert.rejects(enrollPeer(store, keys, { peerId: await newPeerId(), machine: 'ghost', addrs: [] }), { code: 'E_NOT_FOUND' });
  assert.equal(await unenrollMachine(store, keys, 'web-01'), true);
  assert.equal(await store.get(keys.swarmPeer(b)), undefined);
  assert.equal(await unenrollMachine(store, keys, 'web-01'), false);
  await store.close();
});

test('concurrent enrollments of one machine leave exactly one peer id admitted', async () => {
  const store = new MemoryStore();
  const keys = new Keys('/t/', 'site');
  await machines(store, keys, 'web-01');
  const ids = await Promise.all([1, 2, 3, 4].map(newPeerId));
  const results = await Promise.allSettled(ids.map((peerId) => enrollPeer(store, keys, { peerId, machine: 'web-01', addrs: [] })));
  assert.ok(results.some((r) => r.status === 'fulfilled'));
  const { kvs } = await store.list(keys.swarmPeers());
  assert.equal(kvs.length, 1);
  const index = JSON.parse((await store.get(keys.swarmMachinePeer('web-01')))!.value) as { peerId: string };
  assert.equal(kvs[0]!.key, keys.swarmPeer(index.peerId));
  await store.close();
});

test('allow-list: loads enrolled peers, admits new ones and refuses deleted ones as they happen, always admits the seed', async () => {
  const store = new MemoryStore();
  const keys = new Keys('/t/', 'site');
  await machines(store, keys, 'web-01', 'web-02');
  const [seed, a, b, a2] = (await Promise.all([1, 2, 3, 4].map(newPeerId))) as [string, string, string, string];
  await enrollPeer(store, keys, { peerId: a, machine: 'web-01', addrs: [] });
  const list = new PeerAllowList({ store, keys, always: [seed] });
  const removed: string[] = [];
  list.onRemoved((p, m) => removed.push(`${m}:${p}`));
  await list.start();
  try {
    assert.equal(list.has(seed), true);
    assert.equal(list.machineOf(seed), undefined);
    assert.equal(list.has(a), true);
    assert.equal(list.machineOf(a), 'web-01');
    assert.equal(list.has(b), false);
    await enrollPeer(store, keys, { peerId: b, machine: 'web-02', addrs: [] });
    await until(() => list.has(b));
    assert.equal(list.peerOf('web-02'), b);
    await enrollPeer(store, keys, { peerId: a2, machine: 'web-01', addrs: [] });
    await until(() => !list.has(a) && list.has(a2));
    assert.equal(list.peerOf('web-01'), a2);
    await store.delete(keys.swarmPeer(b));
    await until(() => !list.has(b));
    assert.deepEqual(removed, [`web-01:${a}`, `web-02:${b}`]);
    // An unreadable record admits nobody.
    await store.put(keys.swarmPeer(a), '{"machine": 5}');
    await sleep(50);
    assert.equal(list.has(a), false);
  } finally {
    await list.stop();
    await store.close();
  }
});
