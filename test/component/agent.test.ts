// The agent's first part on this machine against a real etcd: it enrolls by its boot MAC, stores
// an inventory that matches the machine, marks itself inspected, follows its spec, and stops
// cleanly on SIGTERM.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Keys } from '../../core/keys.ts';
import { encodeAgentCmdline } from '../../core/cmdline.ts';
import { addMachine, assignMachine, getMachine } from '../../core/registry/machines.ts';
import { applyDocuments } from '../../core/registry/apply.ts';
import { validateDocuments } from '../../core/model/documents.ts';
import { openStore } from '../../store/connect.ts';
import type { Store } from '../../core/store/store.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { BIN, ROOT } from '../helpers/cli.ts';

const keys = new Keys('/lpmos/', 'agenttest');
let etcd: TestEtcd;
let store: Store;

function startAgent(cmdline: string) {
  const child = spawn(process.execPath, [BIN, 'agent', '--cmdline', cmdline], { cwd: ROOT, env: { ...process.env, LPMOS_LOG_FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, log: () => log };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('agent (first part) on this machine', () => {
  before(async () => {
    etcd = await TestEtcd.start();
    store = await openStore({ endpoints: etcd.endpoints });
  });
  after(async () => {
    await store?.close();
    await etcd?.stop();
  });

  it('an unknown machine enrolls by its boot MAC, reports inventory, becomes inspected and follows its spec', async () => {
    const mac = '52:54:00:7a:00:01';
    const agent = startAgent(encodeAgentCmdline({ seed: 'http://127.0.0.1:9', etcd: etcd.endpoints, site: 'agenttest', prefix: '/lpmos/', bootMac: mac, bootstrap: [] }));
    try {
      const view = await until('inspected', async () => {
        try {
          const v = await getMachine(store, keys, 'm-5254007a0001');
          return v.status?.state === 'inspected' ? v : undefined;
        } catch {
          return undefined;
        }
      });
      assert.deepEqual(view.machine.macs, [mac]);
      const inv = view.inventory as { cpu: { threads: number }; memory: { totalBytes: number }; disks: unknown[] };
      assert.equal(inv.cpu.threads, cpus().length, 'CPU count matches this machine');
      assert.ok(inv.memory.totalBytes > 1e9);
      assert.equal(view.status?.step, 'inventory');

      await applyDocuments(store, keys, validateDocuments([{ kind: 'Profile', name: 'p1', os: { name: 'debian', version: '12' }, storage: { disks: [{ id: 'd0' }], partitions: [{ id: 'r', disk: 'd0', size: 'rest' }], filesystems: [{ device: 'r', type: 'ext4', mount: '/' }] } }], 't'));
      await assignMachine(store, keys, 'm-5254007a0001', { action: 'install', profile: 'p1' });
      await until('spec seen', async () => (agent.log().includes('"spec changed"') && agent.log().includes('"profile":"p1"') ? true : undefined));
      // Not the ramdisk's agent: it must refuse to write this host's disks, and say so.
      await until('install refused', async () => (agent.log().includes('refuses to write the disks of the machine it runs on') ? true : undefined));
      assert.doesNotMatch(agent.log(), /"install plan ready"/);
    } finally {
      agent.child.kill('SIGTERM');
    }
    assert.equal(await agent.exited, 0, agent.log());
  });

  it('a machine named on the command line is used as is; a missing one is an error', async () => {
    await addMachine(store, keys, { name: 'named-1', macs: ['52:54:00:7a:00:02'] });
    const ok = startAgent(encodeAgentCmdline({ seed: 'http://127.0.0.1:9', etcd: etcd.endpoints, site: 'agenttest', prefix: '/lpmos/', machine: 'named-1', bootstrap: [] }));
    try {
      await until('inspected', async () => ((await getMachine(store, keys, 'named-1')).status?.state === 'inspected' ? true : undefined));
    } finally {
      ok.child.kill('SIGTERM');
    }
    assert.equal(await ok.exited, 0, ok.log());
    const bad = startAgent(encodeAgentCmdline({ seed: 'http://127.0.0.1:9', etcd: etcd.endpoints, site: 'agenttest', prefix: '/lpmos/', machine: 'ghost', bootstrap: [] }));
    assert.equal(await bad.exited, 4, bad.log());
    assert.match(bad.log(), /machine \\"ghost\\" named on the kernel command line does not exist/);
  });

  it('without settings on the command line it says what is missing', async () => {
    const a = startAgent('console=ttyS0 quiet');
    assert.equal(await a.exited, 2);
    assert.match(a.log(), /no lpmos\.seed=/);
  });
});
