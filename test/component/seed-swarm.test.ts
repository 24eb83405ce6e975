// A real `lpmos seed` in a network namespace with --address (its managed etcd, HTTP and swarm on
// the provisioning address), driven from the host over a veth pair as a machine would be:
//  - the boot script's command line carries lpmos.bootstrap=/ip4/<address>/tcp/4001/p2p/<peer id>
//    (the default port: the namespace has its own, so no other test or seed collides);
//  - an agent node (AgentSwarm) bootstraps from exactly that, reaches etcd at the command line's
//    lpmos.etcd, reports an install; the seed folds it into etcd, and `complete` turns the spec to
//    `localboot` (the next boot script boots the disk) with the status provisioning/reboot;
//  - POST /api/v1/firstboot (curl, and the installed system's own bash script): ok, repeat,
//    unknown machine, bad parameter, wrong method, and a source address that is not the lease's;
//  - --mirror-dir: the mirror serves from the directory given.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { decodeAgentCmdline } from '../../core/cmdline.ts';
import { Keys } from '../../core/keys.ts';
import { validateDocuments } from '../../core/model/documents.ts';
import { specSchema } from '../../core/model/spec.ts';
import { statusSchema } from '../../core/model/status.ts';
import { applyDocuments } from '../../core/registry/apply.ts';
import type { Store } from '../../core/store/store.ts';
import { renderFirstbootScript } from '../../installers/debian/render.ts';
import { openStore } from '../../store/connect.ts';
import { AgentSwarm } from '../../swarm/agent-swarm.ts';
import { progressTopic } from '../../swarm/progress/event.ts';
import { BIN } from '../helpers/cli.ts';
import { Lab, waitFor, type NsProcess } from '../helpers/netns.ts';

const run = promisify(execFile);
// 10.213.112.0/20 is this test's block; one /24 of it per pid, so two runs do not collide.
const NET = `10.213.${112 + (process.pid % 16)}`;
const HOST = `${NET}.1`;
const SEED = `${NET}.2`;
const ELSEWHERE = `${NET}.9`;
const HTTP_PORT = 8080;
const BASE = `http://${SEED}:${HTTP_PORT}`;
const keys = new Keys('/lpmos/', 'default');
const MAC = { agent: '52:54:00:fb:00:01', fenced: '52:54:00:fb:00:02', leased: '52:54:00:fb:00:03', script: '52:54:00:fb:00:04' };

const lab = new Lab('sdsw');
const dir = mkdtempSync(join(tmpdir(), `lpmos-seed-swarm-${process.pid}-`));
let seed: NsProcess;
let store: Store;
let agent: AgentSwarm | undefined;

async function curl(method: string, path: string): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '20', '-X', method, '-H', 'Content-Type: application/json', ...(method === 'POST' ? ['--data', '{}'] : []), '-w', '\n%{http_code}', `${BASE}${path}`]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

async function status(id: string) {
  const kv = await store.get(keys.status(id));
  return kv ? { value: statusSchema.parse(JSON.parse(kv.value)), rev: kv.modRevision } : undefined;
}

async function spec(id: string) {
  const kv = await store.get(keys.spec(id));
  return kv ? specSchema.parse(JSON.parse(kv.value)) : undefined;
}

function kernelLine(script: string): string | undefined {
  return script.split('\n').find((l) => l.startsWith('kernel '))?.replace(/^kernel \S+ /, '');
}

before(async () => {
  const ns = lab.netns('seed');
  lab.veth({ name: `sw${process.pid % 100000}h`, address: `${HOST}/24` }, { ns, name: 'eth0', address: `${SEED}/24` });
  // Stand-in agent files: the scripts only name them.
  const art = join(dir, 'artifacts');
  mkdirSync(art);
  const files = ['vmlinuz', 'initrd.img'].map((name) => {
    writeFileSync(join(art, name), name);
    return { name, sha256: createHash('sha256').update(name).digest('hex'), size: name.length };
  });
  writeFileSync(join(art, 'manifest.json'), JSON.stringify({ files }));
  // A cached index in the mirror directory given by --mirror-dir (as a CI keeps under ~/.cache).
  const index = join(dir, 'mirror-cache', 'debian', 'index', 'dists', 'bookworm', 'Release');
  mkdirSync(join(index, '..'), { recursive: true });
  writeFileSync(index, 'Origin: Debian\n');
  writeFileSync(`${index}.lpmos-meta.json`, JSON.stringify({ fetchedAt: Date.now() }));

  seed = lab.spawn(ns, [process.execPath, BIN, 'seed', '--state-dir', join(dir, 'state'), '--address', SEED, '--http-address', SEED, '--http-port', String(HTTP_PORT), '--http-artifacts', art, '--mirror', 'off', '--mirror-dir', join(dir, 'mirror-cache')], {
    env: { ...process.env, LPMOS_LOG_FORMAT: 'json' },
  });
  lab.defer(() => rmSync(dir, { recursive: true, force: true }));
  await waitFor('seed ready', () => {
    if (seed.child.exitCode !== null) throw new Error(`seed exited with ${seed.child.exitCode}:\n${seed.output()}`);
    return seed.output().includes('"seed ready"') ? true : undefined;
  }, 60_000, 200);
  // The managed etcd listens on the provisioning address too (--etcd-agent-port 2379): the host reaches it there.
  store = await openStore({ endpoints: [`http://${SEED}:2379`] });
  const profile = { kind: 'Profile', name: 'p1', os: { name: 'debian', version: '12' }, storage: { disks: [{ id: 'd0' }], partitions: [{ id: 'r', disk: 'd0', size: 'rest' }], filesystems: [{ device: 'r', type: 'ext4', mount: '/' }] } };
  const machine = (name: string, mac: string) => ({ kind: 'Machine', name, macs: [mac], spec: { action: 'install', profile: 'p1' } });
  await applyDocuments(store, keys, validateDocuments([profile, machine('fb-agent', MAC.agent), machine('fb-fenced', MAC.fenced), machine('fb-leased', MAC.leased), machine('fb-script', MAC.script)], 'test'));
});

after(async () => {
  await agent?.stop(0).catch(() => undefined);
  await store?.close().catch(() => undefined);
  if (seed) {
    await seed.stop('SIGTERM');
    // A clean stop: the seed stops its swarm, HTTP and etcd and exits 0.
    assert.equal(await seed.exited, 0, seed.output().slice(-4000));
  }
  await lab.cleanup();
});

test('the boot script carries the swarm: lpmos.bootstrap=/ip4/<address>/tcp/4001/p2p/<the peer id the seed logged>', async () => {
  const ready = seed.output().split('\n').filter((l) => l.includes('"swarm ready"')).map((l) => JSON.parse(l) as { peerId: string; bootstrap: string[] });
  assert.equal(ready.length, 1, 'the seed logs its peer id once at start');
  const peerId = ready[0]!.peerId;
  assert.match(peerId, /^12D3KooW/);
  assert.ok(existsSync(join(dir, 'state', 'swarm-key')), 'identity kept in the state dir');
  const res = await curl('GET', `/boot/ipxe?mac=${MAC.agent}`);
  assert.equal(res.status, 200, res.body);
  const settings = decodeAgentCmdline(kernelLine(res.body) ?? '');
  assert.deepEqual(settings.bootstrap, [`/ip4/${SEED}/tcp/4001/p2p/${peerId}`]);
  assert.equal(settings.machine, 'fb-agent');
  assert.deepEqual(settings.etcd, [`http://${SEED}:2379`]);
});

test('an agent bootstrapping from the command line reports an install: progress in etcd; complete → spec localboot, status provisioning/reboot', async () => {
  const settings = decodeAgentCmdline(kernelLine((await curl('GET', `/boot/ipxe?mac=${MAC.agent}`)).body) ?? '');
  const agentStore = await openStore({ endpoints: settings.etcd });
  try {
    agent = await AgentSwarm.start({ store: agentStore, keys: new Keys(settings.prefix, settings.site), site: settings.site, machine: settings.machine!, bootstrap: settings.bootstrap, listen: [`/ip4/${HOST}/tcp/0`], resendAfterMs: 400 });
    await waitFor('the seed subscribed, seen by the agent', () => (agent!.swarm.node.pubsub.getSubscribers(progressTopic(settings.site)).length > 0 ? true : undefined), 20_000);
    agent.report({ step: 'debootstrap', state: 'running', percent: 40, message: 'retrieving packages' });
    await waitFor('progress in etcd', async () => ((await status('fb-agent'))?.value.step === 'debootstrap' ? true : undefined), 15_000);
    assert.deepEqual([(await status('fb-agent'))?.value.state, (await status('fb-agent'))?.value.progress], ['provisioning', 40]);
    agent.report({ step: 'debootstrap', state: 'done' });
    agent.report({ step: 'report', state: 'complete' });
    await waitFor('spec localboot', async () => ((await spec('fb-agent'))?.action === 'localboot' ? true : undefined), 15_000);
    const st = (await status('fb-agent'))?.value;
    assert.deepEqual([st?.state, st?.step, st?.progress], ['provisioning', 'reboot', 100]);
    assert.equal((await spec('fb-agent'))?.profile, 'p1');
    const { kvs } = await store.list(keys.machineLogs('fb-agent'));
    assert.deepEqual(kvs.map((kv) => (JSON.parse(kv.value) as { step: string; state: string }).state), ['running', 'done', 'complete']);
    // The next boot starts the installed system.
    const next = await curl('GET', `/boot/ipxe?mac=${MAC.agent}&platform=pcbios`);
    assert.equal(kernelLine(next.body), undefined, next.body);
    assert.match(next.body, /sanboot --no-describe --drive 0x80/);
    assert.equal(await agent.stop(5000), true, 'every event acknowledged');
    agent = undefined;
  } finally {
    await agentStore.close();
  }
});

test('first-boot report: 200 provisioned, a repeat 200 without a rewrite; unknown 404, bad parameter 400, GET 405 (JSON)', async () => {
  const ok = await curl('POST', '/api/v1/firstboot?machine=fb-agent');
  assert.equal(ok.status, 200, ok.body);
  assert.deepEqual(JSON.parse(ok.body), { machine: 'fb-agent', state: 'provisioned', step: 'firstboot', since: (await status('fb-agent'))?.value.since, changed: true });
  const first = await status('fb-agent');
  assert.deepEqual([first?.value.state, first?.value.step], ['provisioned', 'firstboot']);

  const again = await curl('POST', '/api/v1/firstboot?machine=fb-agent');
  assert.equal(again.status, 200, again.body);
  assert.equal((JSON.parse(again.body) as { changed: boolean }).changed, false);
  assert.equal((await status('fb-agent'))?.rev, first?.rev, 'a repeat does not rewrite the status');

  const unknown = await curl('POST', '/api/v1/firstboot?machine=no-such-box');
  assert.equal(unknown.status, 404);
  const err = JSON.parse(unknown.body) as { error: { code: string; message: string } };
  assert.equal(err.error.code, 'E_NOT_FOUND');
  assert.match(err.error.message, /"no-such-box"/);

  for (const bad of ['/api/v1/firstboot', '/api/v1/firstboot?machine=', '/api/v1/firstboot?machine=Bad%20Name', '/api/v1/firstboot?machine=fb-agent&machine=fb-fenced']) {
    const r = await curl('POST', bad);
    assert.equal(r.status, 400, `${bad}: ${r.body}`);
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'E_USAGE');
  }
  const get = await curl('GET', '/api/v1/firstboot?machine=fb-agent');
  assert.equal(get.status, 405);
  assert.equal((JSON.parse(get.body) as { error: { code: string } }).error.code, 'E_METHOD');
});

test('first-boot report with a DHCP lease on record: only from the leased address (403 and a log line otherwise)', async () => {
  const lease = (mac: string, ip: string) => JSON.stringify({ kind: 'Lease', mac, ip, state: 'bound', expiresAt: new Date(Date.now() + 3600_000).toISOString(), updatedAt: new Date().toISOString(), subnet: `${NET}.0/24`, server: SEED });
  await store.put(keys.lease(MAC.fenced), lease(MAC.fenced, ELSEWHERE));
  await store.put(keys.lease(MAC.leased), lease(MAC.leased, HOST));

  const refused = await curl('POST', '/api/v1/firstboot?machine=fb-fenced');
  assert.equal(refused.status, 403, refused.body);
  const err = JSON.parse(refused.body) as { error: { code: string; message: string } };
  assert.equal(err.error.code, 'E_FORBIDDEN');
  assert.match(err.error.message, new RegExp(`${ELSEWHERE.replace(/\./g, '\\.')}.*${HOST.replace(/\./g, '\\.')}`));
  assert.equal((await status('fb-fenced'))?.value.state, undefined, 'nothing written');
  await waitFor('refusal logged', () => (seed.output().includes('first-boot report from an address not leased') ? true : undefined), 5000);

  const accepted = await curl('POST', '/api/v1/firstboot?machine=fb-leased');
  assert.equal(accepted.status, 200, accepted.body);
  assert.equal((await status('fb-leased'))?.value.state, 'provisioned');
});

test("the installed system's own first-boot script (bash, HTTP/1.0 over /dev/tcp) is accepted", async () => {
  const done = join(dir, 'firstboot.done');
  const script = renderFirstbootScript(BASE, 'fb-script').replaceAll('/var/lib/lpmos/firstboot.done', done);
  assert.ok(!script.includes('/var/lib/lpmos'), 'the script writes only into the test directory');
  writeFileSync(join(dir, 'firstboot.sh'), script, { mode: 0o755 });
  const { stdout } = await run('bash', [join(dir, 'firstboot.sh')], { timeout: 60_000 });
  assert.match(stdout, /first-boot report accepted/);
  assert.ok(readFileSync(done, 'utf8').length > 0);
  const st = (await status('fb-script'))?.value;
  assert.deepEqual([st?.state, st?.step], ['provisioned', 'firstboot']);
});

test('--mirror-dir: the mirror serves what is cached in the directory given', async () => {
  const r = await curl('GET', '/mirror/debian/dists/bookworm/Release');
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body, 'Origin: Debian\n');
  assert.ok(!existsSync(join(dir, 'state', 'mirror')), 'nothing under <state-dir>/mirror');
});
