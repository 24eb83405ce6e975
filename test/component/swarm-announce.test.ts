// Have gossip between real libp2p nodes on loopback (issue 7, the CPU cost at N = 32): a held blob
// is re-announced only once its last announcement is `refreshMs` old, not at every periodic tick;
// a holder whose connection drops is no longer offered; gossipsub's fast message id is the
// author + sequence number, so a forwarded copy is recognised before its signature is checked.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HaveAnnouncer } from '../../swarm/blobs/announcer.ts';
import { HolderIndex } from '../../swarm/blobs/holders.ts';
import { BlobService, MemoryPieceStore, type BlobManifest } from '../../swarm/blobs/index.ts';
import { fastMsgId } from '../../swarm/msg-id.ts';
import { MESH, SwarmNode } from '../../swarm/node.ts';
import { silentLogger } from '../../core/log.ts';
import { until } from '../helpers/until.ts';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), `lpmos-announce-${process.pid}-`));
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

async function node(): Promise<SwarmNode> {
  const n = await SwarmNode.create({ identity: 'memory', listen: ['/ip4/127.0.0.1/tcp/0'], allow: () => true });
  await n.start();
  cleanups.push(() => n.stop());
  return n;
}

function file(name: string, size: number): string {
  const p = join(dir, name);
  writeFileSync(p, randomBytes(size));
  return p;
}

test('fastMsgId: author + seqno; copies of one message share it, other messages do not', () => {
  const from = new Uint8Array([0, 36, 8, 1, 18, 32, 7, 7]);
  const seqno = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 42]);
  const a = fastMsgId({ from, seqno, topic: 't', data: new Uint8Array([1]) });
  // A forwarded copy arrives as a new object with the same bytes.
  assert.equal(fastMsgId({ from: Uint8Array.from(from), seqno: Uint8Array.from(seqno), topic: 't', data: new Uint8Array([1]) }), a);
  assert.notEqual(fastMsgId({ from, seqno: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 43]), topic: 't' }), a);
  assert.notEqual(fastMsgId({ from: new Uint8Array([0, 36, 8, 1, 18, 32, 7, 8]), seqno, topic: 't' }), a);
  // A subarray view (what protobuf decoding hands out) is read by its own bytes, not its buffer's.
  const big = new Uint8Array([9, 9, ...from, 9]);
  assert.equal(fastMsgId({ from: big.subarray(2, 2 + from.length), seqno, topic: 't' }), a);
  assert.ok(MESH.Dout < MESH.Dlo && MESH.Dlo <= MESH.D && MESH.D <= MESH.Dhi && MESH.Dout <= MESH.D / 2, 'gossipsub accepts the mesh degrees');
});

test('three real nodes in a triangle (smaller mesh, fast ids): every announcement is delivered, once', async () => {
  const [a, b, c] = [await node(), await node(), await node()];
  await b.dial(a.addrs()[0]!);
  await c.dial(a.addrs()[0]!);
  await c.dial(b.addrs()[0]!);
  const stores = [a, b, c].map(() => new MemoryPieceStore({ budget: 16 * MiB }));
  const idx = [a, b, c].map(() => new HolderIndex());
  const ann = [a, b, c].map((n, i) => new HaveAnnouncer({ pubsub: n.pubsub, site: 'announce', store: stores[i]!, index: idx[i]!, where: () => ({ addrs: n.addrs() }), announce: true, log: silentLogger(), pieceDelayMs: 20 }));
  for (const x of ann) {
    x.start();
    cleanups.push(async () => x.stop());
  }
  await until('every node sees the other two subscribed', () => [a, b, c].every((n) => n.pubsub.getSubscribers('lpmos/announce/blobs/have').length === 2), 15_000);
  const services = [a, b, c].map((n, i) => new BlobService(n, { site: 'other', store: stores[i]!, http: false, role: 'agent' }));
  const ms: BlobManifest[] = [];
  for (let k = 0; k < 5; k++) ms.push(await services[0]!.add(file(`t${k}`, 1000 + k)));
  // Each add flushes; give the last flush time, then count what b and c accepted.
  await until('b and c know a holds all five', () => ms.every((m) => idx[1]!.holders(m.sha256).length === 1 && idx[2]!.holders(m.sha256).length === 1), 10_000);
  await sleep(300);
  // Every message reaches b and c from a directly and once more relayed by the other: delivered once.
  assert.equal(ann[1]!.stats.received, ann[0]!.stats.sent);
  assert.equal(ann[2]!.stats.received, ann[0]!.stats.sent);
});

test('the periodic tick re-announces a blob only when its last announcement is refreshMs old', async () => {
  const [a, b] = [await node(), await node()];
  await b.dial(a.addrs()[0]!);
  const storeA = new MemoryPieceStore({ budget: 16 * MiB });
  const indexB = new HolderIndex();
  const annA = new HaveAnnouncer({ pubsub: a.pubsub, site: 'refresh', store: storeA, index: new HolderIndex(), where: () => ({ addrs: a.addrs() }), announce: true, log: silentLogger(), everyMs: 100, refreshMs: 2000 });
  const annB = new HaveAnnouncer({ pubsub: b.pubsub, site: 'refresh', store: new MemoryPieceStore({ budget: MiB }), index: indexB, where: () => ({ addrs: b.addrs() }), announce: false, log: silentLogger() });
  for (const x of [annA, annB]) {
    x.start();
    cleanups.push(async () => x.stop());
  }
  await until('subscribed', () => a.pubsub.getSubscribers(annA.topic).length === 1 && b.pubsub.getSubscribers(annA.topic).length === 1, 15_000);
  // A blob lands in a's store (as a download would put it): announced once when complete.
  const svc = new BlobService(a, { site: 'unused', store: storeA, http: false });
  const m = await svc.add(file('r', 5000));
  await until('b heard of the blob', () => indexB.holders(m.sha256).length === 1, 10_000);
  await sleep(300); // a piece announcement still coalescing (250 ms) is not a refresh
  const sent = annA.stats.sent;
  // Seven ticks of 100 ms: nothing is due.
  await sleep(700);
  assert.equal(annA.stats.sent, sent, 'no re-announcement before refreshMs');
  await until('re-announced after refreshMs', () => annA.stats.sent > sent, 5000);
  assert.ok(annA.stats.sent - sent <= 2, `one re-announcement per refreshMs (${annA.stats.sent - sent})`);
  await until('b received it', () => annB.stats.received >= 2, 5000);
});

test('a holder whose connection drops is not offered any more', async () => {
  const [a, b] = [await node(), await node()];
  const sa = new BlobService(a, { site: 'drop', store: new MemoryPieceStore({ budget: 16 * MiB }), http: false });
  const sb = new BlobService(b, { site: 'drop', store: new MemoryPieceStore({ budget: 16 * MiB }), http: false });
  await sa.start();
  await sb.start();
  cleanups.push(() => sa.stop(), () => sb.stop());
  await b.dial(a.addrs()[0]!);
  await until('subscribed', () => a.pubsub.getSubscribers(sa.announcer.topic).length === 1 && b.pubsub.getSubscribers(sa.announcer.topic).length === 1, 15_000);
  const m = await sb.add(file('d', 3000));
  await until('a knows b holds it', () => sa.holders(m.sha256).some((h) => h.peerId === b.peerId), 10_000);
  await a.hangUp(b.peerId);
  await until('b forgotten after the disconnect', () => sa.holders(m.sha256).length === 0, 5000);
});
