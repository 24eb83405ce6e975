// The swarm admits only enrolled peers: real libp2p nodes on loopback, the allow-list fed by a
// watch on a real etcd. An unenrolled agent is refused, admitted right after enrollment, refused
// again (and hung up on) after its enrollment is deleted.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { multiaddr } from '@multiformats/multiaddr';
import { Keys } from '../../core/keys.ts';
import { addMachine } from '../../core/registry/machines.ts';
import type { Store } from '../../core/store/store.ts';
import { openStore } from '../../store/connect.ts';
import type { PeerAllowList } from '../../swarm/peers/allow-list.ts';
import { enrollPeer, unenrollMachine } from '../../swarm/peers/enroll.ts';
import { EnrolledSwarm } from '../../swarm/enrolled-node.ts';
import { SwarmNode, type SwarmNodeOptions } from '../../swarm/node.ts';
import { TestEtcd } from '../helpers/etcd.ts';

let etcd: TestEtcd;
let store: Store;
const dir = mkdtempSync(join(tmpdir(), `lpmos-swarm-gater-${process.pid}-`));
const keys = new Keys('/lpmos/', 'gater');
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  etcd = await TestEtcd.start();
  store = await openStore({ endpoints: etcd.endpoints });
  await addMachine(store, keys, { name: 'agent-a', macs: ['52:54:00:5a:00:01'] });
  await addMachine(store, keys, { name: 'agent-b', macs: ['52:54:00:5a:00:02'] });
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await store?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

async function swarmNode(identity: SwarmNodeOptions['identity'], bootstrap: string[]): Promise<{ node: SwarmNode; list: PeerAllowList }> {
  const swarm = await EnrolledSwarm.start({ store, keys, identity, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, redialMs: 200 });
  cleanups.push(() => swarm.stop());
  return { node: swarm.node, list: swarm.peers };
}

/** Whether `from` can really talk to `to`: a ping over a fresh or existing connection. */
async function canPing(from: SwarmNode, to: SwarmNode): Promise<boolean> {
  try {
    await from.libp2p.services.ping.ping(multiaddr(to.addrs()[0]!), { signal: AbortSignal.timeout(2000) });
    return true;
  } catch (e) {
    if (process.env.DEBUG_SWARM) console.log('ping failed', (e as Error).name, (e as Error).message, from.libp2p.getConnections().map((c) => `${c.remotePeer.toString().slice(-6)} ${c.status}`));
    return false;
  }
}

test('seed identity persists in its key file (mode 0600)', async () => {
  const a = await SwarmNode.create({ identity: { dir: join(dir, 'persist') }, allow: () => false });
  const b = await SwarmNode.create({ identity: { dir: join(dir, 'persist') }, allow: () => false });
  assert.equal(a.peerId, b.peerId);
  assert.equal(statSync(join(dir, 'persist', 'swarm-key')).mode & 0o777, 0o600);
  const c = await SwarmNode.create({ identity: 'memory', allow: () => false });
  assert.notEqual(c.peerId, a.peerId);
});

test('enrolled peers connect; an unenrolled one is refused, admitted after enrollment, refused again after deletion', async () => {
  const seed = await swarmNode({ dir: join(dir, 'seed') }, []);
  const seedAddr = seed.node.addrs()[0]!;
  assert.match(seedAddr, /\/p2p\/12D3KooW/);

  const a = await swarmNode('memory', [seedAddr]);
  await enrollPeer(store, keys, { peerId: a.node.peerId, machine: 'agent-a', addrs: [] });
  await until('seed admits agent-a', () => seed.list.has(a.node.peerId));
  await until('agent-a connected to the seed (bootstrap)', () => seed.node.isConnected(a.node.peerId));
  assert.equal(await canPing(a.node, seed.node), true);

  // b knows the seed (bootstrap, redialled every 200 ms) but is not enrolled: the seed drops every
  // connection right after the noise handshake proves b's id.
  const b = await swarmNode('memory', [seedAddr]);
  assert.equal(await canPing(b.node, seed.node), false);
  await sleep(500);
  assert.equal(seed.node.isConnected(b.node.peerId), false);
  // An enrolled agent refuses it too (every node runs the gater), and the seed will not dial it.
  a.node.libp2p.peerStore.merge(b.node.libp2p.peerId, { multiaddrs: b.node.libp2p.getMultiaddrs() }).catch(() => undefined);
  assert.equal(await canPing(b.node, a.node), false);
  await assert.rejects(seed.node.dial(b.node.addrs()[0]!));

  const t0 = Date.now();
  await enrollPeer(store, keys, { peerId: b.node.peerId, machine: 'agent-b', addrs: b.node.addrs() });
  await until('seed admits agent-b', () => seed.list.has(b.node.peerId));
  const admitMs = Date.now() - t0;
  await until('agent-b connected to the seed by its own redial', () => seed.node.isConnected(b.node.peerId));
  assert.equal(await canPing(b.node, seed.node), true);
  assert.equal(await canPing(b.node, a.node), true, 'agents admit each other once enrolled');
  assert.ok(admitMs < 2000, `admitted ${admitMs} ms after enrollment`);

  await unenrollMachine(store, keys, 'agent-b');
  await until('seed hangs up on agent-b', () => !seed.node.isConnected(b.node.peerId));
  await until('agent-a forgets agent-b and hangs up', () => !a.list.has(b.node.peerId) && !a.node.isConnected(b.node.peerId));
  assert.equal(await canPing(b.node, seed.node), false);
  assert.equal(seed.node.isConnected(b.node.peerId), false);
  // The enrolled agent is untouched.
  assert.equal(await canPing(a.node, seed.node), true);
});
