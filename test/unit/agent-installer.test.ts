// The agent acting on its spec (agent/installer.ts) against the in-memory store twin: the real planner
// refuses a layout that does not fit before the installer is called; an install runs once per spec,
// its steps become progress events ending in `complete`; `localboot` stops a running install, drains
// the progress and reboots; another action stops the install. The installer itself (disks, debootstrap)
// is tested on loop devices (test/component/install-debian.test.ts) and in VMs (test/e2e).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Keys } from '../../core/keys.ts';
import { silentLogger } from '../../core/log.ts';
import { applyDocuments } from '../../core/registry/apply.ts';
import { validateDocuments } from '../../core/model/documents.ts';
import type { Inventory } from '../../core/model/inventory.ts';
import type { Spec } from '../../core/model/spec.ts';
import { MemoryStore } from '../../store/memory.ts';
import { SpecFollower } from '../../agent/installer.ts';
import { buildInstallSpec, progressStep, toProgress } from '../../agent/install-spec.ts';
import type { InstallOptions } from '../../installers/install.ts';
import type { ProgressInput } from '../../swarm/progress/publisher.ts';

const GiB = 2 ** 30;
const keys = new Keys('/lpmos/', 'unit');

function disk(name: string, sizeBytes: number): Inventory['disks'][number] {
  return {
    name, path: `/dev/${name}`, sizeBytes, model: 'QEMU HARDDISK', vendor: null, serial: `S-${name}`, wwn: null, rotational: false, removable: false,
    transport: 'virtio', byPath: null, hctl: null, logicalSectorBytes: 512, physicalSectorBytes: 512,
  };
}

function inventory(disks: Inventory['disks'], bootMode: 'bios' | 'uefi' = 'bios'): Inventory {
  const none = { vendor: null, product: null, version: null, serial: null };
  return {
    version: 1, collectedAt: new Date().toISOString(),
    cpu: { model: null, vendor: null, arch: 'x86_64', sockets: 1, cores: 1, threads: 1 },
    memory: { totalBytes: GiB, installedBytes: GiB, dimms: [] },
    dmi: { system: { ...none, uuid: null, sku: null, family: null }, board: none, bios: { vendor: null, version: null, date: null } },
    serial: null, uuid: null, disks,
    nics: [{ name: 'ens3', mac: '52:54:00:00:00:01', currentMac: null, link: 'up', speedMbps: null, driver: 'virtio_net', pciAddress: null, mtu: 1500, kind: 'physical', master: null, members: [] }],
    raidControllers: [], virtualization: 'qemu', container: 'none', bootMode, unknown: [],
  };
}

const PROFILE = {
  kind: 'Profile', name: 'p-bios', os: { name: 'debian', version: '12' },
  storage: {
    partitionTable: 'gpt',
    disks: [{ id: 'd0', match: { minSize: '4GiB' }, wipe: true }],
    partitions: [{ id: 'bios', disk: 'd0', size: '1MiB', type: 'bios-boot' }, { id: 'swap', disk: 'd0', size: '512MiB', type: 'swap' }, { id: 'root', disk: 'd0', size: 'rest' }],
    filesystems: [{ device: 'swap', type: 'swap' }, { device: 'root', type: 'ext4', mount: '/' }],
  },
};
const TOO_BIG = {
  ...PROFILE, name: 'p-too-big',
  storage: { ...PROFILE.storage, disks: [{ id: 'd0', wipe: true }], partitions: [{ id: 'bios', disk: 'd0', size: '1MiB', type: 'bios-boot' }, { id: 'root', disk: 'd0', size: '40GiB' }], filesystems: [{ device: 'root', type: 'ext4', mount: '/' }] },
};

async function setup(disks = [disk('vda', 8 * GiB)]) {
  const store = new MemoryStore();
  await applyDocuments(store, keys, validateDocuments([PROFILE, TOO_BIG], 'test'));
  const events: ProgressInput[] = [];
  const calls: InstallOptions[] = [];
  let reboots = 0;
  let drained = 0;
  const gate = { release: (): void => undefined };
  const follower = new SpecFollower({
    store, keys, logger: silentLogger(), inventory: inventory(disks),
    context: { machine: 'm1', seedUrl: 'http://10.213.64.1:8080/', target: '/target', bootMac: '52:54:00:00:00:01' },
    progress: { report: (p) => events.push(p), drain: async () => { drained++; return true; } },
    reboot: async () => { reboots++; },
    runInstall: async (opts) => {
      calls.push(opts);
      opts.onProgress?.({ step: 'partition:d0', state: 'start', percent: 0, message: 'partition vda' });
      opts.onProgress?.({ step: 'partition:d0', state: 'done', percent: 100 });
      // Holds until released or aborted, like a long debootstrap.
      await new Promise<void>((resolve, reject) => {
        gate.release = resolve;
        opts.signal.addEventListener('abort', () => reject(opts.signal.reason as Error), { once: true });
      });
      return { ran: ['partition:d0'], skipped: [] };
    },
  });
  return { store, events, calls, follower, gate, reboots: () => reboots, drained: () => drained };
}

const install = (profile: string, updatedAt?: string): Spec => ({ action: 'install', profile, ...(updatedAt ? { updatedAt } : {}) });

describe('agent: acting on the spec', () => {
  it('refuses a layout that does not fit before the installer runs, and reports failed with the reason', async () => {
    const t = await setup([disk('vda', 8 * GiB)]);
    await t.follower.onSpec(install('p-too-big'));
    await t.follower.installing;
    assert.equal(t.calls.length, 0, 'nothing ran');
    const last = t.events.at(-1)!;
    assert.equal(last.state, 'failed');
    assert.equal(last.step, 'plan');
    assert.equal(last.code, 'E_VALIDATION');
    assert.match(last.message ?? '', /40(\.0)? ?GiB|does not fit|too (big|small)/i);
  });

  it('an unknown profile fails with E_NOT_FOUND naming it', async () => {
    const t = await setup();
    await t.follower.onSpec(install('nope'));
    await t.follower.installing;
    assert.equal(t.events.at(-1)?.code, 'E_NOT_FOUND');
    assert.match(t.events.at(-1)?.message ?? '', /nope/);
  });

  it('installs once per spec, reports every step and ends with complete', async () => {
    const t = await setup();
    await t.follower.onSpec(install('p-bios', '2026-01-01T00:00:00Z'));
    await sleep(20);
    await t.follower.onSpec(install('p-bios', '2026-01-01T00:00:05Z')); // the same spec written again
    assert.equal(t.calls.length, 1);
    const s = t.calls[0]!.spec;
    assert.equal(s.mirror, 'http://10.213.64.1:8080/mirror/debian');
    assert.equal(s.firmware, 'bios');
    assert.equal(s.hostname, 'm1');
    assert.deepEqual(s.bootNic, { name: 'ens3', mac: '52:54:00:00:00:01' });
    assert.deepEqual(t.calls[0]!.plan.layout.disks.map((d) => d.device), ['/dev/vda']);
    t.gate.release();
    await t.follower.installing;
    assert.deepEqual(t.events.map((e) => `${e.step}/${e.state}`), ['plan/running', 'plan/done', 'partition:d0/running', 'partition:d0/done', 'done/complete']);
  });

  it('localboot stops a running install, drains the progress, then reboots', async () => {
    const t = await setup();
    await t.follower.onSpec(install('p-bios'));
    await sleep(20);
    await t.follower.onSpec({ action: 'localboot' });
    assert.equal(t.reboots(), 1);
    assert.equal(t.drained(), 1);
    assert.ok(!t.events.some((e) => e.state === 'complete' || e.state === 'failed'), 'a stopped install is not reported as failed');
    await t.follower.onSpec(install('p-bios'));
    assert.equal(t.calls.length, 1, 'nothing starts once rebooting');
  });

  it('another action stops the install', async () => {
    const t = await setup();
    await t.follower.onSpec(install('p-bios'));
    await sleep(20);
    await t.follower.onSpec({ action: 'inspect' });
    assert.equal(t.follower.installing, undefined);
    assert.equal(t.reboots(), 0);
  });

  it('refuses to install when the agent is not allowed to write disks', async () => {
    const store = new MemoryStore();
    await applyDocuments(store, keys, validateDocuments([PROFILE], 'test'));
    const events: ProgressInput[] = [];
    const f = new SpecFollower({
      store, keys, logger: silentLogger(), inventory: inventory([disk('vda', 8 * GiB)]), refuseInstall: 'not the ramdisk',
      context: { machine: 'm1', seedUrl: 'http://s', target: '/target' },
      progress: { report: (p) => events.push(p), drain: async () => true }, reboot: async () => undefined,
      runInstall: () => assert.fail('must not run'),
    });
    await f.onSpec(install('p-bios'));
    await f.installing;
    assert.equal(events.at(-1)?.code, 'E_USAGE');
    assert.equal(events.at(-1)?.message, 'not the ramdisk');
  });
});

describe('agent: install spec and progress mapping (pure)', () => {
  it('needs the boot mode', () => {
    assert.throws(() => buildInstallSpec({ machine: 'm', seedUrl: 'http://s', target: '/t' }, { ...inventory([]), bootMode: null }, install('p'), validateDocuments([PROFILE], 't')[0] as never), /BIOS or UEFI/);
  });
  it('maps runner events to progress events the codec accepts', () => {
    assert.equal(progressStep('mkfs:vg0/root'), 'mkfs:vg0-root');
    assert.deepEqual(toProgress({ step: 'os', state: 'progress', percent: 120, bytes: 1.6, message: 'x'.repeat(300) }), { step: 'os', state: 'running', percent: 100, bytes: 2, message: `${'x'.repeat(199)}…` });
    assert.equal(toProgress({ step: 'os', state: 'failed' }).state, 'failed');
  });
});
