// Progress over gossipsub end to end on loopback: two agent nodes publish, the seed node collects
// into a real etcd — every event exactly once and in order, status and bounded history written,
// coalesced; events published during a partition arrive after it; malformed, oversize and forged
// (another machine's name) messages are dropped and counted.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Keys } from '../../core/keys.ts';
import { addMachine } from '../../core/registry/machines.ts';
import { statusSchema } from '../../core/model/status.ts';
import type { Store } from '../../core/store/store.ts';
import { openStore } from '../../store/connect.ts';
import { AgentSwarm } from '../../swarm/agent-swarm.ts';
import type { EnrolledSwarm } from '../../swarm/enrolled-node.ts';
import { SeedSwarm } from '../../swarm/seed-swarm.ts';
import { enrollPeer } from '../../swarm/peers/enroll.ts';
import { ProgressCollector } from '../../swarm/progress/collector.ts';
import { encodeEvent, progressTopic } from '../../swarm/progress/event.ts';
import { logEntrySchema, type LogEntry } from '../../swarm/progress/fold.ts';
import type { ProgressReporter } from '../../swarm/progress/reporter.ts';
import { BIN, lpmos } from '../helpers/cli.ts';
import { TestEtcd } from '../helpers/etcd.ts';

const SITE = 'prog';
const keys = new Keys('/lpmos/', SITE);
let etcd: TestEtcd;
let store: Store;
let seedSwarm: SeedSwarm;
let seed: EnrolledSwarm;
let collector: ProgressCollector;
const agents: { machine: string; agent: AgentSwarm; swarm: EnrolledSwarm; reporter: ProgressReporter }[] = [];
const stateDir = mkdtempSync(join(tmpdir(), `lpmos-swarm-progress-${process.pid}-`));

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(25);
  }
}

async function ackedSeq(machine: string): Promise<number> {
  const kv = await store.get(keys.progressSeq(machine));
  return kv ? (JSON.parse(kv.value) as { seq: number }).seq : 0;
}

async function history(machine: string): Promise<LogEntry[]> {
  const { kvs } = await store.list(keys.machineLogs(machine));
  return kvs.map((kv) => logEntrySchema.parse(JSON.parse(kv.value)));
}

async function status(machine: string) {
  const kv = await store.get(keys.status(machine));
  return kv ? statusSchema.parse(JSON.parse(kv.value)) : undefined;
}

before(async () => {
  etcd = await TestEtcd.start();
  store = await openStore({ endpoints: etcd.endpoints });
  await addMachine(store, keys, { name: 'agent-a', macs: ['52:54:00:5a:00:01'] });
  await addMachine(store, keys, { name: 'agent-b', macs: ['52:54:00:5a:00:02'] });
  seedSwarm = await SeedSwarm.start({ store, keys, site: SITE, stateDir, listen: ['/ip4/127.0.0.1/tcp/0'], collector: { gapTimeoutMs: 5000, logLimit: 50 } });
  seed = seedSwarm.swarm;
  collector = seedSwarm.collector;
  for (const machine of ['agent-a', 'agent-b']) {
    const agent = await AgentSwarm.start({ store, keys, site: SITE, machine, bootstrap: seedSwarm.bootstrapAddrs(), listen: ['/ip4/127.0.0.1/tcp/0'], resendAfterMs: 400 });
    agents.push({ machine, agent, swarm: agent.swarm, reporter: agent.reporter });
  }
  await until('seed admits both agents', () => agents.every((a) => seed.peers.machineOf(a.swarm.node.peerId) === a.machine));
  await until('agents see the seed subscribed', () => agents.every((a) => a.swarm.node.pubsub.getSubscribers(progressTopic(SITE)).length > 0));
});

after(async () => {
  for (const a of agents) await a.agent.stop(0).catch(() => undefined);
  await collector?.stop().catch(() => undefined);
  await seedSwarm?.stop().catch(() => undefined);
  await store?.close();
  await etcd?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

test('events from two agents land in etcd exactly once and in order; status follows; writes are coalesced', async (t) => {
  const steps = ['wipe', 'partition', 'mkfs', 'debootstrap', 'grub'];
  const t0 = Date.now();
  const publish = async (a: (typeof agents)[number]) => {
    for (const step of steps) {
      for (let p = 0; p <= 100; p += 10) {
        a.reporter.report({ step, state: 'running', percent: p, ...(p === 50 ? { message: `${step} half way on ${a.machine}` } : {}) });
        await sleep(5);
      }
      a.reporter.report({ step, state: 'done' });
    }
  };
  await Promise.all(agents.map(publish));
  for (const a of agents) {
    const last = a.reporter.publisher.nextSeq - 1;
    await until(`${a.machine} acknowledged up to ${last}`, async () => (await ackedSeq(a.machine)) === last && a.reporter.publisher.unacked().length === 0);
  }
  const elapsed = Date.now() - t0;
  for (const a of agents) {
    const h = await history(a.machine);
    const seqs = h.map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'history in seq order');
    assert.equal(new Set(seqs).size, seqs.length, 'each event once');
    assert.ok(h.every((e) => e.machine === a.machine && e.peerId === a.swarm.node.peerId));
    // The story is there: each step's start, its message, its completion, in the order published.
    const story = h.filter((e) => e.state === 'done' || e.message !== undefined).map((e) => `${e.step}:${e.state}`);
    assert.deepEqual(story, steps.flatMap((s) => [`${s}:running`, `${s}:done`]));
    const st = await status(a.machine);
    assert.equal(st?.state, 'provisioning');
    assert.equal(st?.step, 'grub');
    assert.equal(st?.progress, 100);
  }
  assert.equal(collector.stats.forged + collector.stats.malformed + collector.stats.oversize, 0);
  // Exactly once: the collector applied each published seq once, whatever gossip or resends duplicated.
  assert.equal(collector.stats.applied, agents.reduce((n, a) => n + a.reporter.publisher.nextSeq - 1, 0));
  assert.equal(collector.stats.skipped, 0);
  // Coalescing: at most one flush per machine per 250 ms (each flush: history+ack, then status).
  const flushes = collector.stats.writes / 2;
  assert.ok(flushes <= agents.length * (elapsed / 250 + 2), `${flushes} flushes in ${elapsed} ms`);
  const reported = agents.length * steps.length * 12;
  t.diagnostic(`reported ${reported}, sent after throttling and applied once ${collector.stats.applied}, received ${collector.stats.received}, duplicates ${collector.stats.duplicate}, flushes ${flushes}, ${elapsed} ms until all acknowledged`);
});

test('a failed step sets status failed with the error; complete sets provisioning at step reboot', async () => {
  const [a, b] = agents as [(typeof agents)[number], (typeof agents)[number]];
  a.reporter.report({ step: 'grub', state: 'failed', code: 'E_GRUB', message: 'grub-install: no such device' });
  b.reporter.report({ step: 'report', state: 'complete' });
  await until('status written', async () => (await status(a.machine))?.state === 'failed' && (await status(b.machine))?.step === 'reboot');
  assert.equal((await status(b.machine))?.state, 'provisioning', 'installed, not yet booted: the first-boot report makes it provisioned');
  const st = await status(a.machine);
  assert.equal(st?.lastError?.code, 'E_GRUB');
  assert.equal(st?.lastError?.message, 'grub-install: no such device');
});

test('partition: events published while the seed is unreachable arrive after it, in order, once', async () => {
  const a = agents[0]!;
  const before = await ackedSeq(a.machine);
  // Cut the link and keep it cut: the seed refuses agent-a while the partition lasts.
  const peerId = a.swarm.node.peerId;
  await store.delete(keys.swarmPeer(peerId));
  await until('seed hung up on agent-a', () => !seed.node.isConnected(peerId));
  for (let i = 0; i < 5; i++) a.reporter.report({ step: `retry-${i}`, state: 'done' });
  await sleep(1000);
  assert.equal(await ackedSeq(a.machine), before, 'nothing arrived during the partition');
  assert.deepEqual(a.reporter.publisher.unacked(), [before + 1, before + 2, before + 3, before + 4, before + 5]);
  // Heal: enrollment back, the agent's redial reconnects, the publisher resends.
  await enrollPeer(store, keys, { peerId, machine: a.machine, addrs: [] });
  await until('missed events acknowledged', async () => (await ackedSeq(a.machine)) === before + 5, 15_000);
  const h = (await history(a.machine)).filter((e) => e.seq > before);
  assert.deepEqual(h.map((e) => e.step), ['retry-0', 'retry-1', 'retry-2', 'retry-3', 'retry-4']);
  assert.deepEqual(h.map((e) => e.seq), [before + 1, before + 2, before + 3, before + 4, before + 5]);
});

test('partition of the subscription: the seed stops and restarts its collector (as a seed restart would); nothing is lost', async () => {
  const b = agents[1]!;
  await collector.stop();
  const before = await ackedSeq(b.machine);
  for (let i = 0; i < 3; i++) b.reporter.report({ step: `after-restart-${i}`, state: 'done' });
  await sleep(600);
  collector = new ProgressCollector({ pubsub: seed.node.pubsub, store, keys, site: SITE, machineOf: (p) => seed.peers.machineOf(p), logLimit: 50 });
  collector.start();
  await until('events acknowledged by the new collector', async () => (await ackedSeq(b.machine)) === before + 3, 15_000);
  const h = (await history(b.machine)).filter((e) => e.seq > before);
  assert.deepEqual(h.map((e) => e.step), ['after-restart-0', 'after-restart-1', 'after-restart-2']);
  assert.ok((await history(b.machine)).length <= 50, 'history bounded');
});

test('malformed, oversize and forged messages are dropped and counted; nothing reaches etcd', async () => {
  const [a, b] = agents as [(typeof agents)[number], (typeof agents)[number]];
  const topic = progressTopic(SITE);
  const aBefore = await ackedSeq(a.machine);
  const s0 = { ...collector.stats };
  // b claims to be a: properly encoded and signed by b, but b is not a's enrolled peer.
  const forged = encodeEvent({ machine: a.machine, seq: aBefore + 1, step: 'evil', state: 'complete', time: new Date().toISOString() });
  await b.swarm.node.pubsub.publish(topic, forged);
  await b.swarm.node.pubsub.publish(topic, new TextEncoder().encode('{"machine":"agent-b", this is not json'));
  await b.swarm.node.pubsub.publish(topic, new Uint8Array(4096).fill(0x20));
  await until('all three counted', () => collector.stats.forged > s0.forged && collector.stats.malformed > s0.malformed && collector.stats.oversize > s0.oversize);
  await sleep(400);
  assert.equal(collector.stats.applied, s0.applied);
  assert.equal(await ackedSeq(a.machine), aBefore);
  assert.ok((await history(a.machine)).every((e) => e.step !== 'evil'));
  // The honest agent still gets through afterwards.
  a.reporter.report({ step: 'still-alive', state: 'done' });
  await until('honest event applied', async () => (await ackedSeq(a.machine)) === aBefore + 1);
});

test('a restarted agent (new identity) continues the numbering; its old peer id is refused', async () => {
  const old = agents[0]!;
  const acked = await ackedSeq(old.machine);
  assert.equal(await old.agent.stop(5000), true, 'drained before stopping');
  const agent = await AgentSwarm.start({ store, keys, site: SITE, machine: old.machine, bootstrap: seedSwarm.bootstrapAddrs(), listen: ['/ip4/127.0.0.1/tcp/0'], resendAfterMs: 400 });
  agents[0] = { machine: old.machine, agent, swarm: agent.swarm, reporter: agent.reporter };
  assert.notEqual(agent.peerId, old.swarm.node.peerId);
  assert.equal(agent.reporter.publisher.nextSeq, acked + 1);
  await until('seed knows the new peer id and forgot the old one', () => seed.peers.machineOf(agent.peerId) === old.machine && !seed.peers.has(old.swarm.node.peerId));
  agent.report({ step: 'resumed', state: 'running', percent: 30 });
  await until('event from the new identity applied', async () => (await ackedSeq(old.machine)) === acked + 1);
  const last = (await history(old.machine)).at(-1);
  assert.deepEqual([last?.step, last?.peerId], ['resumed', agent.peerId]);
});

test('sixteen agents behind one IP address all get through (gossipsub IP colocation scoring is off)', async () => {
  // gossipsub's default scoring graylists every peer of an address shared by 15 or more
  // (-5 × (n - 10)² < -80): then nothing at all from them reached the seed.
  const extra: AgentSwarm[] = [];
  try {
    for (let i = 0; i < 14; i++) {
      const machine = `crowd-${i}`;
      await addMachine(store, keys, { name: machine, macs: [`52:54:00:5b:00:${i.toString(16).padStart(2, '0')}`] });
      extra.push(await AgentSwarm.start({ store, keys, site: SITE, machine, bootstrap: seedSwarm.bootstrapAddrs(), listen: ['/ip4/127.0.0.1/tcp/0'], resendAfterMs: 400 }));
    }
    await until('the crowd is connected to the seed', () => extra.every((a) => seed.node.isConnected(a.peerId)));
    for (const a of extra) a.report({ step: 'report', state: 'complete' });
    for (const a of agents) a.reporter.report({ step: 'crowded', state: 'done' });
    await until('every crowd agent installed', async () => (await Promise.all(extra.map(async (_, i) => (await status(`crowd-${i}`))?.step))).every((s) => s === 'reboot'), 20_000);
  } finally {
    await Promise.all(extra.map((a) => a.stop(0)));
  }
});

test('lpmos machine logs and lpmos watch read what the collector wrote', async () => {
  const env = { LPMOS_ETCD: etcd.endpoints.join(','), LPMOS_SITE: SITE };
  // Each CLI start costs seconds of CPU on a loaded 2-core runner: one one-shot call, one live watch.
  const logs = await lpmos(['machine', 'logs', 'agent-a', '--tail', '3', '-o', 'json'], { env });
  assert.equal(logs.code, 0, logs.stderr);
  const entries = JSON.parse(logs.stdout) as LogEntry[];
  assert.deepEqual(entries, (await history('agent-a')).slice(-3));

  // Live: a new step shows up as a JSON line while `lpmos watch` runs.
  const child = spawn(process.execPath, [BIN, 'watch', '-o', 'json'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until('watch printed the current state', () => out.includes('"agent-b"'), 20_000);
    const rows = out.trim().split('\n').map((l) => JSON.parse(l) as { machine: string; state: string }).filter((r) => r.machine.startsWith('agent-'));
    assert.deepEqual(rows.map((r) => [r.machine, r.state]), [['agent-a', 'provisioning'], ['agent-b', 'provisioning']]);
    agents[1]!.reporter.report({ step: 'live-step', state: 'running', percent: 42 });
    await until('watch printed the live step', () => out.includes('"step":"live-step"'));
    const live = out.trim().split('\n').map((l) => JSON.parse(l) as { machine: string; state: string; step?: string; progress?: number }).find((r) => r.step === 'live-step');
    assert.deepEqual([live?.machine, live?.state, live?.progress], ['agent-b', 'provisioning', 42]);
    // Ctrl-C / SIGTERM ends the watch cleanly.
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
