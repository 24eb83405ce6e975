// Issue 2 end to end: a real `lpmos seed` with its managed etcd, driven by the real CLI from
// another process: apply, list, every bad input (clear message, non-zero exit, nothing written),
// the supervisor restarting a killed etcd, data surviving a seed restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { execFileSync } from 'node:child_process';
import { openStore } from '../../store/connect.ts';
import { Keys } from '../../core/keys.ts';
import { deleteMachine } from '../../core/registry/machines.ts';
import { lpmos, SeedProcess } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), `lpmos-cli-${process.pid}-`));
const stateDir = join(dir, 'state');
const sd = ['--state-dir', stateDir];
let seed: SeedProcess | undefined;

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

async function machineNames(): Promise<string[]> {
  const r = await lpmos([...sd, 'machine', 'list', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { name: string }[]).map((m) => m.name);
}

describe('lpmos seed + CLI against its managed etcd', () => {
  before(async () => {
    seed = new SeedProcess(stateDir);
    await seed.ready();
  });
  after(async () => {
    await seed?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies the examples and lists machines as table, JSON and YAML', async () => {
    let r = await lpmos([...sd, 'profile', 'apply', '-f', 'examples/profile-debian12-minimal.yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /profile\/debian12-minimal created/);
    r = await lpmos([...sd, 'apply', '-f', 'examples/machines.yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await machineNames(), ['rack1-node01', 'rack1-node02', 'rack1-node03']);
    r = await lpmos([...sd, 'machine', 'list']);
    assert.match(r.stdout, /^NAME\s+MAC\s+STATE/);
    assert.match(r.stdout, /rack1-node02\s+52:54:00:13:00:02\s+registered\s+install\s+debian12-raid1-lvm/);
    r = await lpmos([...sd, 'machine', 'show', 'rack1-node01', '-o', 'yaml']);
    assert.equal((parse(r.stdout) as { serial: string }).serial, 'LPM0001');
    r = await lpmos([...sd, 'profile', 'list', '-o', 'json']);
    assert.deepEqual((JSON.parse(r.stdout) as { name: string }[]).map((p) => p.name), ['debian12-minimal', 'debian12-raid1-lvm']);
    r = await lpmos([...sd, 'machine', 'list', '-l', 'role=storage', '-o', 'json']);
    assert.deepEqual((JSON.parse(r.stdout) as { name: string }[]).map((p) => p.name), ['rack1-node02']);
  });

  it('machine add, assign and delete', async () => {
    let r = await lpmos([...sd, 'machine', 'add', '--mac', '52-54-00-AA-00-01', '--label', 'rack=r2', '--serial', 'S1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /machine\/m-525400aa0001 created/);
    r = await lpmos([...sd, 'machine', 'assign', 'm-525400aa0001', '--profile', 'debian12-minimal', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { action: string }).action, 'install');
    r = await lpmos([...sd, 'machine', 'delete', 'm-525400aa0001']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!(await machineNames()).includes('m-525400aa0001'));
  });

  describe('bad input: clear message naming what is wrong, non-zero exit, nothing written', () => {
    const cases: { name: string; args: () => string[]; code: number; says: RegExp[] }[] = [
      { name: 'malformed YAML', args: () => ['apply', '-f', file('bad.yaml', 'kind: Machine\nname: [oops\n')], code: 3, says: [/bad\.yaml/, /not valid YAML/] },
      { name: 'malformed JSON', args: () => ['apply', '-f', file('bad.json', '{"kind": "Machine", ')], code: 3, says: [/bad\.json/, /not valid JSON/] },
      {
        name: 'schema violation',
        args: () => ['profile', 'apply', '-f', file('schema.yaml', 'kind: Profile\nname: p9\nos: {name: debian, version: "12"}\nstorage:\n  disks: [{id: d0}]\n  partitions: [{id: r, disk: d0, size: lots}]\n  filesystems: [{device: r, type: ext4, mount: /}]\n')],
        code: 3,
        says: [/Profile\/p9/, /storage\.partitions\[0\]\.size/, /"lots" is not a size/],
      },
      {
        name: 'unknown profile in apply',
        args: () => ['apply', '-f', file('unknown.yaml', 'kind: Machine\nname: m9\nmacs: ["52:54:00:99:00:09"]\nspec: {action: install, profile: nope}\n')],
        code: 3,
        says: [/machine\/m9: spec\.profile/, /unknown profile "nope"/],
      },
      { name: 'unknown profile in assign', args: () => ['machine', 'assign', 'rack1-node03', '--profile', 'nope'], code: 4, says: [/profile "nope" does not exist/] },
      { name: 'unknown machine', args: () => ['machine', 'show', 'nope'], code: 4, says: [/machine "nope" does not exist/] },
      { name: 'duplicate MAC (machine add)', args: () => ['machine', 'add', '--mac', '52:54:00:13:00:01', '--name', 'dup'], code: 5, says: [/52:54:00:13:00:01/, /already belongs to machine "rack1-node01"/] },
      {
        name: 'duplicate MAC (apply)',
        args: () => ['apply', '-f', file('dup.yaml', 'kind: Machine\nname: m8\nmacs: ["52:54:00:13:00:02"]\n')],
        code: 5,
        says: [/machine\/m8/, /already belongs to machine "rack1-node02"/],
      },
      { name: 'MAC in a bad format', args: () => ['machine', 'add', '--mac', '52:54:00:13:00'], code: 3, says: [/"52:54:00:13:00" is not a unicast MAC/] },
      { name: 'bad action', args: () => ['machine', 'assign', 'rack1-node03', '--action', 'explode'], code: 2, says: [/explode/] },
      { name: 'bad label', args: () => ['machine', 'add', '--mac', '52:54:00:13:00:77', '--label', 'norack'], code: 2, says: [/--label "norack": expected key=value/] },
      { name: 'bad --etcd URL', args: () => ['--etcd', 'ftp://x', 'machine', 'list'], code: 2, says: [/--etcd: "ftp:\/\/x" must use http/] },
      { name: 'missing file', args: () => ['apply', '-f', join(dir, 'nope.yaml')], code: 2, says: [/cannot read .*nope\.yaml/] },
      {
        name: 'one bad document among good ones',
        args: () => ['apply', '-f', file('mixed.yaml', 'kind: Machine\nname: ok1\nmacs: ["52:54:00:99:00:01"]\n---\nkind: Machine\nname: bad2\nmacs: ["zz"]\n')],
        code: 3,
        says: [/Machine\/bad2/, /macs\[0\]/],
      },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        // etcd's revision grows with every write: unchanged revision = nothing written at all.
        const store = await openStore({ endpoints: (await seed!.ready()).etcd.endpoints });
        try {
          const before = await store.revision();
          const r = await lpmos([...sd, ...c.args()]);
          assert.equal(r.code, c.code, `exit code; stderr: ${r.stderr}`);
          for (const re of c.says) assert.match(r.stderr, re);
          assert.equal(r.stdout, '', 'nothing on stdout');
          assert.equal(await store.revision(), before, 'nothing written');
        } finally {
          await store.close();
        }
      });
    }
  });

  it('a rack of 100 machines applies as one transaction (managed etcd allows more than 128 operations)', async () => {
    const docs = Array.from({ length: 100 }, (_, i) => `kind: Machine\nname: bulk-${i}\nmacs: ["52:54:00:b0:00:${i.toString(16).padStart(2, '0')}"]\nlabels: {rack: bulk}\n`).join('---\n');
    const r = await lpmos([...sd, 'apply', '-f', file('rack.yaml', docs)]);
    assert.equal(r.code, 0, r.stderr);
    const list = await lpmos([...sd, 'machine', 'list', '-l', 'rack=bulk', '-o', 'json']);
    assert.equal((JSON.parse(list.stdout) as unknown[]).length, 100);
    const store = await openStore({ endpoints: (await seed!.ready()).etcd.endpoints });
    try {
      for (let i = 0; i < 100; i++) await deleteMachine(store, new Keys(), `bulk-${i}`);
    } finally {
      await store.close();
    }
  });

  it('every command has --help', async () => {
    const commands = [[], ['seed'], ['apply'], ['profile'], ['profile', 'apply'], ['profile', 'list'], ['profile', 'show'], ['profile', 'delete'], ['machine'], ['machine', 'add'], ['machine', 'list'], ['machine', 'show'], ['machine', 'assign'], ['machine', 'delete']];
    // One at a time: 14 Node processes at once on a loaded 2-core runner only measure the runner.
    for (const c of commands) {
      const r = await lpmos([...c, '--help']);
      assert.equal(r.code, 0, `${c.join(' ')} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`Usage: lpmos ${c.join(' ')}`));
    }
  });

  it('the seed restarts its etcd when it dies; data survives', async () => {
    const info = await seed!.ready();
    const port = new URL(info.etcd.endpoints[0]!).port;
    const pids = execFileSync('pgrep', ['-f', `data-dir=${join(stateDir, 'etcd')}`]).toString().trim().split('\n').map(Number);
    assert.equal(pids.length, 1, 'one etcd child');
    process.kill(pids[0]!, 'SIGKILL');
    let names: string[] = [];
    for (let i = 0; i < 50 && !names.length; i++) {
      await sleep(300);
      const r = await lpmos([...sd, 'machine', 'list', '-o', 'json']);
      if (r.code === 0) names = (JSON.parse(r.stdout) as { name: string }[]).map((m) => m.name);
    }
    assert.deepEqual(names, ['rack1-node01', 'rack1-node02', 'rack1-node03']);
    const again = execFileSync('pgrep', ['-f', `data-dir=${join(stateDir, 'etcd')}`]).toString().trim();
    assert.notEqual(Number(again), pids[0], 'a new etcd process');
    assert.match(seed!.log, /restart/i);
    assert.equal(new URL((await seed!.ready()).etcd.endpoints[0]!).port, port, 'same client port');
  });

  it('a stopped seed removes its state file and stops etcd; a new seed has all the data', async () => {
    assert.equal(await seed!.stop(), 0);
    assert.ok(!existsSync(join(stateDir, 'seed.json')));
    const r = await lpmos([...sd, 'machine', 'list']);
    assert.equal(r.code, 6, 'store unavailable without a seed');
    assert.match(r.stderr, /not running|no running seed/);
    seed = new SeedProcess(stateDir);
    await seed.ready();
    assert.deepEqual(await machineNames(), ['rack1-node01', 'rack1-node02', 'rack1-node03']);
  });
});
