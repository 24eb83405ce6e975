// The end of an install over gossip, with real libp2p nodes on loopback and a real etcd: the
// agent's `complete` leaves the machine `provisioning` at step `reboot` and turns its spec from
// `install` to `localboot` (profile and overrides kept); a `failed` leaves the spec alone; a spec
// an operator changed meanwhile is not touched; a `complete` resent after the first-boot report
// does not take the machine back.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Keys } from '../../core/keys.ts';
import { validateDocuments } from '../../core/model/documents.ts';
import { specSchema } from '../../core/model/spec.ts';
import { statusSchema } from '../../core/model/status.ts';
import { applyDocuments } from '../../core/registry/apply.ts';
import { assignMachine } from '../../core/registry/machines.ts';
import { updateStatus } from '../../core/registry/status.ts';
import type { Store } from '../../core/store/store.ts';
import { openStore } from '../../store/connect.ts';
import { AgentSwarm } from '../../swarm/agent-swarm.ts';
import { progressTopic } from '../../swarm/progress/event.ts';
import { SeedSwarm } from '../../swarm/seed-swarm.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { until as waitUntil } from '../helpers/until.ts';

const SITE = 'lboot';
const keys = new Keys('/lpmos/', SITE);
const MACHINES = ['inst-ok', 'inst-fail', 'inst-changed'];
let etcd: TestEtcd;
let store: Store;
let seed: SeedSwarm;
const agents = new Map<string, AgentSwarm>();
const stateDir = mkdtempSync(join(tmpdir(), `lpmos-swarm-localboot-${process.pid}-`));

const until = (what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> => waitUntil(what, cond, ms, 25);

const spec = async (id: string) => {
  const kv = await store.get(keys.spec(id));
  return kv ? { value: specSchema.parse(JSON.parse(kv.value)), rev: kv.modRevision } : undefined;
};
const status = async (id: string) => {
  const kv = await store.get(keys.status(id));
  return kv ? statusSchema.parse(JSON.parse(kv.value)) : undefined;
};
const acked = async (id: string) => {
  const kv = await store.get(keys.progressSeq(id));
  return kv ? (JSON.parse(kv.value) as { seq: number }).seq : 0;
};

before(async () => {
  etcd = await TestEtcd.start();
  store = await openStore({ endpoints: etcd.endpoints });
  const profile = { kind: 'Profile', name: 'p1', os: { name: 'debian', version: '12' }, storage: { disks: [{ id: 'd0' }], partitions: [{ id: 'r', disk: 'd0', size: 'rest' }], filesystems: [{ device: 'r', type: 'ext4', mount: '/' }] } };
  const machines = MACHINES.map((name, i) => ({ kind: 'Machine', name, macs: [`52:54:00:6c:00:0${i + 1}`], spec: { action: 'install', profile: 'p1', overrides: { hostname: `${name}.lab`, kernelCmdline: 'quiet' } } }));
  await applyDocuments(store, keys, validateDocuments([profile, ...machines], 'test'));
  seed = await SeedSwarm.start({ store, keys, site: SITE, stateDir, listen: ['/ip4/127.0.0.1/tcp/0'], collector: { coalesceMs: 100 } });
  for (const machine of MACHINES) {
    agents.set(machine, await AgentSwarm.start({ store, keys, site: SITE, machine, bootstrap: seed.bootstrapAddrs(), listen: ['/ip4/127.0.0.1/tcp/0'], resendAfterMs: 400 }));
  }
  await until('agents see the seed subscribed', () => [...agents.values()].every((a) => a.swarm.node.pubsub.getSubscribers(progressTopic(SITE)).length > 0));
});

after(async () => {
  for (const a of agents.values()) await a.stop(0).catch(() => undefined);
  await seed?.stop().catch(() => undefined);
  await store?.close();
  await etcd?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

test('complete: status provisioning at step reboot, spec install → localboot with profile and overrides kept', async () => {
  const a = agents.get('inst-ok')!;
  const before = await spec('inst-ok');
  a.report({ step: 'debootstrap', state: 'running', percent: 50 });
  a.report({ step: 'debootstrap', state: 'done' });
  a.report({ step: 'bootloader', state: 'done' });
  a.report({ step: 'report', state: 'complete' });
  await until('spec is localboot', async () => (await spec('inst-ok'))?.value.action === 'localboot');
  const after = await spec('inst-ok');
  assert.equal(after?.value.profile, 'p1');
  assert.deepEqual(after?.value.overrides, before?.value.overrides);
  const st = await status('inst-ok');
  assert.deepEqual([st?.state, st?.step, st?.progress], ['provisioning', 'reboot', 100]);
  assert.equal(seed.collector.stats.localboot, 1);
});

test('failed: status failed with the error, the spec stays install', async () => {
  const a = agents.get('inst-fail')!;
  a.report({ step: 'partition', state: 'failed', code: 'E_LAYOUT', message: 'layout needs 40 GiB, disk has 8 GiB' });
  await until('status failed', async () => (await status('inst-fail'))?.state === 'failed');
  await until('event acknowledged', async () => (await acked('inst-fail')) === 1);
  assert.equal((await status('inst-fail'))?.lastError?.code, 'E_LAYOUT');
  assert.equal((await spec('inst-fail'))?.value.action, 'install');
});

test('an operator changed the spec meanwhile: complete does not overwrite it', async () => {
  await assignMachine(store, keys, 'inst-changed', { action: 'rescue' });
  const before = await spec('inst-changed');
  agents.get('inst-changed')!.report({ step: 'report', state: 'complete' });
  await until('event acknowledged', async () => (await acked('inst-changed')) === 1);
  const after = await spec('inst-changed');
  assert.equal(after?.value.action, 'rescue');
  assert.equal(after?.rev, before?.rev, 'spec not rewritten');
  assert.equal((await status('inst-changed'))?.step, 'reboot');
});

test('a complete resent after the first-boot report leaves the machine provisioned and the spec as it is', async () => {
  // The first-boot report (seed/http/routes/firstboot.ts) has made the machine provisioned.
  await updateStatus(store, keys, 'inst-ok', () => ({ state: 'provisioned', step: 'firstboot', progress: 100 }));
  const specBefore = await spec('inst-ok');
  const a = agents.get('inst-ok')!;
  const seq = await acked('inst-ok');
  a.report({ step: 'report', state: 'complete' });
  await until('event acknowledged', async () => (await acked('inst-ok')) === seq + 1);
  const st = await status('inst-ok');
  assert.deepEqual([st?.state, st?.step], ['provisioned', 'firstboot']);
  assert.equal((await spec('inst-ok'))?.rev, specBefore?.rev);
});
