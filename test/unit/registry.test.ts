// The registry's rules on the in-memory store twin (the same rules run against etcd in
// test/component/cli.test.ts): nothing half-written, MACs unique, compare-and-swap on updates.
import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { LpmosError } from '../../core/errors.ts';
import { Keys } from '../../core/keys.ts';
import { validateDocuments } from '../../core/model/documents.ts';
import { applyDocuments } from '../../core/registry/apply.ts';
import { addMachine, assignMachine, deleteMachine, getMachine, listMachines } from '../../core/registry/machines.ts';
import { deleteProfile, listProfiles } from '../../core/registry/profiles.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Store } from '../../core/store/store.ts';

const profile = (name: string) => ({
  kind: 'Profile', name, os: { name: 'debian', version: '12' },
  storage: { disks: [{ id: 'd0' }], partitions: [{ id: 'root', disk: 'd0', size: 'rest' }], filesystems: [{ device: 'root', type: 'ext4', mount: '/' }] },
});
const machine = (name: string, mac: string, spec?: object) => ({ kind: 'Machine', name, macs: [mac], ...(spec ? { spec } : {}) });

async function expectError(p: Promise<unknown>, code: string, fragment?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof LpmosError, String(e));
    assert.equal(e.code, code, e.message);
    if (fragment) assert.ok(`${e.message} ${e.details.map((d) => `${d.path}: ${d.message}`).join(' ')}`.includes(fragment), e.message);
    return true;
  });
}

async function dump(store: Store, keys: Keys): Promise<string[]> {
  return (await store.list(keys.root)).kvs.map((kv) => `${kv.key}=${kv.value}`);
}

describe('registry', () => {
  let store: MemoryStore;
  const keys = new Keys('/lpmos/', 'lab');
  beforeEach(() => {
    store = new MemoryStore();
  });

  it('applies mixed documents in one go and reports created/unchanged/configured', async () => {
    const docs = validateDocuments([profile('p1'), machine('m1', '52:54:00:00:00:01', { action: 'install', profile: 'p1' })], 'f');
    assert.deepEqual((await applyDocuments(store, keys, docs)).map((r) => r.result), ['created', 'created']);
    assert.deepEqual((await applyDocuments(store, keys, docs)).map((r) => r.result), ['unchanged', 'unchanged']);
    const v = await getMachine(store, keys, 'm1');
    assert.equal(v.spec?.profile, 'p1');
    assert.equal((await store.get(keys.macIndex('52:54:00:00:00:01')))?.value, 'm1');
    const changed = validateDocuments([machine('m1', '52:54:00:00:00:02', { action: 'install', profile: 'p1' })], 'f');
    assert.deepEqual((await applyDocuments(store, keys, changed)).map((r) => r.result), ['configured']);
    assert.equal(await store.get(keys.macIndex('52:54:00:00:00:01')), undefined, 'the old MAC is released');
    assert.equal((await store.get(keys.macIndex('52:54:00:00:00:02')))?.value, 'm1');
  });

  it('an unknown profile fails the whole apply and writes nothing', async () => {
    const docs = validateDocuments([profile('p1'), machine('m1', '52:54:00:00:00:01', { action: 'install', profile: 'nope' })], 'f');
    await expectError(applyDocuments(store, keys, docs), 'E_VALIDATION', 'unknown profile "nope"');
    assert.deepEqual(await dump(store, keys), []);
  });

  it('a duplicate MAC (in the store or within the apply) fails and writes nothing', async () => {
    await addMachine(store, keys, { name: 'm1', macs: ['52:54:00:00:00:01'] });
    const before = await dump(store, keys);
    await expectError(applyDocuments(store, keys, validateDocuments([profile('p1'), machine('m2', '52-54-00-00-00-01')], 'f')), 'E_DUPLICATE', 'already belongs to machine "m1"');
    await expectError(applyDocuments(store, keys, validateDocuments([machine('m3', '52:54:00:00:00:09'), machine('m4', '52:54:00:00:00:09')], 'f')), 'E_DUPLICATE', 'also given');
    await expectError(addMachine(store, keys, { name: 'm5', macs: ['52:54:00:00:00:01'] }), 'E_DUPLICATE', '"m1"');
    assert.deepEqual(await dump(store, keys), before);
  });

  it('machine add refuses a bad MAC, a bad name and an existing name', async () => {
    await expectError(addMachine(store, keys, { name: 'm1', macs: ['52:54:00:00:00'] }), 'E_VALIDATION', 'not a unicast MAC');
    await expectError(addMachine(store, keys, { name: 'M 1', macs: ['52:54:00:00:00:01'] }), 'E_VALIDATION', 'name');
    await addMachine(store, keys, { name: 'm1', macs: ['52:54:00:00:00:01'] });
    await expectError(addMachine(store, keys, { name: 'm1', macs: ['52:54:00:00:00:02'] }), 'E_DUPLICATE', 'already exists');
  });

  it('assign needs an existing machine and profile', async () => {
    await applyDocuments(store, keys, validateDocuments([profile('p1'), machine('m1', '52:54:00:00:00:01')], 'f'));
    await expectError(assignMachine(store, keys, 'nope', { action: 'install', profile: 'p1' }), 'E_NOT_FOUND', 'machine "nope"');
    await expectError(assignMachine(store, keys, 'm1', { action: 'install', profile: 'nope' }), 'E_NOT_FOUND', 'profile "nope"');
    await expectError(assignMachine(store, keys, 'm1', { action: 'install' }), 'E_VALIDATION', 'needs a profile');
    const spec = await assignMachine(store, keys, 'm1', { action: 'install', profile: 'p1' });
    assert.equal(spec.profile, 'p1');
    assert.equal((await assignMachine(store, keys, 'm1', { action: 'localboot' })).profile, 'p1', 'keeps the profile');
  });

  it('of two concurrent assigns one wins and the other gets a conflict', async () => {
    await applyDocuments(store, keys, validateDocuments([profile('p1'), profile('p2'), machine('m1', '52:54:00:00:00:01')], 'f'));
    // Two operators read the same state, then write: the slower one must lose.
    const a = new MemoryStore(store.cluster);
    const b = new MemoryStore(store.cluster);
    let gate!: () => void;
    const bothRead = new Promise<void>((r) => (gate = r));
    let reads = 0;
    for (const s of [a, b]) {
      const txn = s.txn.bind(s);
      s.txn = async (c, o, opts) => {
        if (++reads === 2) gate();
        await bothRead;
        return txn(c, o, opts);
      };
    }
    const results = await Promise.allSettled([assignMachine(a, keys, 'm1', { action: 'install', profile: 'p1' }), assignMachine(b, keys, 'm1', { action: 'install', profile: 'p2' })]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const lost = results.find((r) => r.status === 'rejected');
    assert.ok(lost && lost.status === 'rejected' && lost.reason instanceof LpmosError && lost.reason.code === 'E_CONFLICT');
  });

  it('a profile in use cannot be deleted; a free one can', async () => {
    await applyDocuments(store, keys, validateDocuments([profile('p1'), profile('p2'), machine('m1', '52:54:00:00:00:01', { action: 'install', profile: 'p1' })], 'f'));
    await expectError(deleteProfile(store, keys, 'p1'), 'E_CONFLICT', 'm1');
    await deleteProfile(store, keys, 'p2');
    assert.deepEqual((await listProfiles(store, keys)).map((p) => p.name), ['p1']);
    await expectError(deleteProfile(store, keys, 'p2'), 'E_NOT_FOUND');
  });

  it('delete removes the machine, its children and its MAC index', async () => {
    await applyDocuments(store, keys, validateDocuments([profile('p1'), machine('m1', '52:54:00:00:00:01', { action: 'install', profile: 'p1' }), machine('m10', '52:54:00:00:00:10')], 'f'));
    await store.put(keys.inventory('m1'), '{"cpus":2}');
    await store.put(keys.machineLogEntry('m1', 1), '{}');
    await store.put(keys.progressSeq('m1'), '{"seq":1}');
    await store.put(keys.swarmMachinePeer('m1'), JSON.stringify({ peerId: '12D3KooWTest' }));
    await store.put(keys.swarmPeer('12D3KooWTest'), JSON.stringify({ machine: 'm1' }));
    await store.put(keys.machineLogEntry('m10', 1), '{}');
    await deleteMachine(store, keys, 'm1');
    for (const k of [keys.machineLogEntry('m1', 1), keys.progressSeq('m1'), keys.swarmMachinePeer('m1'), keys.swarmPeer('12D3KooWTest')]) assert.equal(await store.get(k), undefined, k);
    assert.ok(await store.get(keys.machineLogEntry('m10', 1)), 'm10 keeps its log');
    assert.deepEqual((await listMachines(store, keys)).map((v) => v.machine.name), ['m10'], 'm10 (same prefix) survives');
    assert.equal(await store.get(keys.macIndex('52:54:00:00:00:01')), undefined);
    assert.equal(await store.get(keys.inventory('m1')), undefined);
    await expectError(deleteMachine(store, keys, 'm1'), 'E_NOT_FOUND');
  });

  it('a stored record of the wrong shape is reported with its key, by list and by show', async () => {
    await store.put(keys.machine('bad'), JSON.stringify({ kind: 'Machine', name: 'bad' }));
    await expectError(listMachines(store, keys), 'E_INTERNAL', keys.machine('bad'));
    await expectError(getMachine(store, keys, 'bad'), 'E_INTERNAL', keys.machine('bad'));
    await store.put(keys.machine('bad'), '{not json');
    await expectError(listMachines(store, keys), 'E_INTERNAL', 'is not JSON');
  });

  it('sites sharing one store do not see each other', async () => {
    const other = new Keys('/lpmos/', 'other');
    await addMachine(store, keys, { name: 'm1', macs: ['52:54:00:00:00:01'] });
    await addMachine(store, other, { name: 'm1', macs: ['52:54:00:00:00:01'] });
    assert.equal((await listMachines(store, keys)).length, 1);
    assert.equal((await listMachines(store, other)).length, 1);
  });
});
