// Boot-storm offload with the real parts: the seed's HTTP server and its blob exchange on a libp2p
// node gated by a real etcd, real agents (AgentSwarm with their HTTP piece servers) that keep the
// boot files (agent/boot-blobs.ts), and curl -L as the booting machine. Loopback only: the agents'
// piece servers on 127.0.0.2/127.0.0.4, curl from 127.0.0.1 or 127.0.0.3 (--interface), so a holder
// is never the requester.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { keepBootFiles } from '../../agent/boot-blobs.ts';
import { Keys } from '../../core/keys.ts';
import { createLogger, silentLogger } from '../../core/log.ts';
import { addMachine } from '../../core/registry/machines.ts';
import type { Store } from '../../core/store/store.ts';
import { describeBootFiles } from '../../seed/offload-blobs.ts';
import { BootOffload } from '../../seed/offload.ts';
import { startHttp, type HttpServer } from '../../seed/http/server.ts';
import { openStore } from '../../store/connect.ts';
import { AgentSwarm } from '../../swarm/agent-swarm.ts';
import { DiskPieceStore } from '../../swarm/blobs/disk-store.ts';
import { BlobService } from '../../swarm/blobs/service.ts';
import { EnrolledSwarm } from '../../swarm/enrolled-node.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { artifactDir, curl } from './http-helpers.ts';
import { until as waitUntil } from '../helpers/until.ts';

const SITE = 'offload';
const keys = new Keys('/lpmos/', SITE);
const MiB = 1024 * 1024;
const TTL_MS = 2000;
let etcd: TestEtcd;
let store: Store;
let files: Awaited<ReturnType<typeof artifactDir>>;
let seedNode: EnrolledSwarm;
let seedBlobs: BlobService;
let offload: BootOffload;
let http: HttpServer;
let base: string;
const stateDir = mkdtempSync(join(tmpdir(), `lpm-offload-${process.pid}-`));
const cleanups: (() => Promise<unknown>)[] = [];
let machines = 0;

before(async () => {
  etcd = await TestEtcd.start();
  store = await openStore({ endpoints: etcd.endpoints });
  files = await artifactDir({ vmlinuz: 300 * 1024 + 7, 'initrd.img': 3 * MiB + 123, 'stage0.img': 4096 });
  seedNode = await EnrolledSwarm.start({ store, keys, identity: { dir: stateDir }, listen: ['/ip4/127.0.0.1/tcp/0'] });
  seedBlobs = new BlobService(seedNode.node, { site: SITE, store: await DiskPieceStore.create({ dir: join(stateDir, 'blobs') }), role: 'seed', holderTtlMs: TTL_MS });
  await seedBlobs.start();
  offload = new BootOffload({
    on: true, networks: ['127.0.0.0/8'], holders: seedBlobs, policy: { perHolder: 1, seedConcurrent: 1, retryAfterS: 3 },
    manifests: (sha) => (seedBlobs.store.get(sha)?.complete ? seedBlobs.store.get(sha)?.manifest : undefined),
  });
  http = await startHttp(
    { address: '127.0.0.1', port: 0, artifacts: [files.dir] },
    { logger: silentLogger(), store, keys, site: SITE, prefix: '/lpmos/', etcdEndpoints: etcd.endpoints, offload },
  );
  base = `http://127.0.0.1:${http.port}`;
  await describeBootFiles(seedBlobs, http.artifacts, ['vmlinuz', 'initrd.img'], silentLogger());
});

after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  await http?.stop().catch(() => undefined);
  await seedBlobs?.stop().catch(() => undefined);
  await seedNode?.stop().catch(() => undefined);
  await files?.cleanup();
  await store?.close();
  await etcd?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const until = (what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> => waitUntil(what, cond, ms, 50);

/** An agent whose piece server listens on `host`, keeping the boot files (from `retained` when given). */
async function agent(host: string, retained?: string, budget = 64 * MiB): Promise<{ swarm: AgentSwarm; stop: () => Promise<void>; kept: Awaited<ReturnType<typeof keepBootFiles>> }> {
  const machine = `m-${process.pid}-${++machines}`;
  await addMachine(store, keys, { name: machine, macs: [`52:54:00:0f:00:${machines.toString(16).padStart(2, '0')}`] });
  const swarm = await AgentSwarm.start({
    store, keys, site: SITE, machine, bootstrap: seedNode.node.addrs(), listen: ['/ip4/127.0.0.1/tcp/0'],
    blobs: { budget, http: { host }, announceEveryMs: 300, discoverMs: 300 },
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await swarm.stop(0);
  };
  cleanups.push(stop);
  const stopper = new AbortController();
  cleanups.push(async () => stopper.abort());
  const kept = await keepBootFiles({ exchange: swarm.blobs!, seedUrl: base, logger: createLogger({ level: 'silent' }), signal: stopper.signal, retained: [retained ?? join(stateDir, 'no-such-file')] });
  return { swarm, stop, kept };
}

const initrd = () => files.files.get('initrd.img')!;

/** curl -L as a booting machine: status line of every hop, the final URL and the body's sha256. */
async function boot(opts: { from?: string; ua?: string } = {}): Promise<{ code: number; status: number; url: string; redirects: number; sha256: string; stderr: string }> {
  const out = join(stateDir, `body-${process.pid}-${Math.random().toString(16).slice(2)}`);
  try {
    const r = await curl(['-L', '-o', out, '-w', '%{http_code} %{num_redirects} %{url_effective}', ...(opts.from ? ['--interface', opts.from] : []), ...(opts.ua ? ['-A', opts.ua] : []), `${base}/artifacts/initrd.img`]);
    const [status, redirects, url] = r.stdout.toString('utf8').split(' ');
    let sha256 = '';
    try {
      const { readFileSync } = await import('node:fs');
      sha256 = createHash('sha256').update(readFileSync(out)).digest('hex');
    } catch {
      // no body
    }
    return { code: r.code, status: Number(status), url: url ?? '', redirects: Number(redirects), sha256, stderr: r.stderr };
  } finally {
    rmSync(out, { force: true });
  }
}

async function metrics(): Promise<string> {
  return (await fetch(`${base}/metrics`)).text();
}

test('with no holder the seed serves the ramdisk itself and counts a full copy', async () => {
  const before = offload.copies(initrd().sha256).full;
  const r = await boot();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.status, 200);
  assert.equal(r.redirects, 0);
  assert.equal(r.sha256, initrd().sha256);
  assert.equal(offload.copies(initrd().sha256).full, before + 1);
  assert.match(await metrics(), /lpmos_boot_seed_served_total\{file="initrd.img",reason="no_holder"\} [1-9]/);
  // Range and HEAD keep working, from the seed.
  const range = await curl(['-r', '0-99', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `${base}/artifacts/initrd.img`]);
  assert.equal(range.stdout.toString(), '206 100');
  const head = await curl(['-I', '-o', '/dev/null', '-w', '%{http_code}', `${base}/artifacts/initrd.img`]);
  assert.equal(head.stdout.toString(), '200');
});

test('an agent keeping the ramdisk makes the seed redirect the next boot there; curl -L gets the right bytes from the agent; at its cap the seed serves (curl) or defers iPXE (503)', async () => {
  const a = await agent('127.0.0.2');
  assert.deepEqual(a.kept.skipped, []);
  // The ramdisk first (a kept one makes the agent a holder soonest), then the kernel.
  assert.deepEqual(a.kept.kept.map((k) => [k.name, k.how]), [['initrd.img', 'fetched'], ['vmlinuz', 'fetched']]);
  // The boot refs carry the seed's piece manifest: the agent took the ramdisk piece by piece (Range), not whole.
  const pieces = Number(/lpmos_boot_seed_served_total\{file="initrd.img",reason="range"\} (\d+)/.exec(await metrics())?.[1] ?? 0);
  assert.ok(pieces >= Math.ceil(initrd().data.length / MiB), `ramdisk fetched in ${pieces} range requests`);
  await until('the seed hears the agent holds the ramdisk', () => offload.candidates({ name: 'initrd.img', sha256: initrd().sha256, size: initrd().data.length }).some((c) => c.complete));
  const fullBefore = offload.copies(initrd().sha256).full;
  const served = a.swarm.blobs!.stats.bytesServedToPeers;

  const r = await boot();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.redirects, 1);
  assert.match(r.url, new RegExp(`^http://127\\.0\\.0\\.2:\\d+/blobs/${initrd().sha256}$`));
  assert.equal(r.sha256, initrd().sha256);
  assert.equal(a.swarm.blobs!.stats.bytesServedToPeers - served, initrd().data.length, 'the agent sent the whole file');
  assert.equal(offload.copies(initrd().sha256).full, fullBefore, 'no copy from the seed');
  assert.match(await metrics(), /lpmos_boot_redirects_total\{file="initrd.img",reason="same_subnet"\} 1/);

  // The holder's one slot (perHolder 1) is leased to 127.0.0.1 until it comes back: another client is
  // served by the seed (curl does not retry) — or told to retry when it is iPXE.
  const other = await boot({ from: '127.0.0.3' });
  assert.equal(other.code, 0, other.stderr);
  assert.equal(other.redirects, 0);
  assert.equal(other.sha256, initrd().sha256);
  assert.equal(offload.copies(initrd().sha256).full, fullBefore + 1);
  const ipxe = await curl(['-A', 'iPXE/1.21.1+ (g0)', '--interface', '127.0.0.3', '-o', '/dev/null', '-D', '-', `${base}/artifacts/initrd.img`]);
  assert.match(ipxe.stdout.toString(), /^HTTP\/1\.1 503/);
  assert.match(ipxe.stdout.toString(), /retry-after: 3/i);

  // The first client comes back (its agent asks for the boot refs): the slot is free again.
  await curl(['-o', '/dev/null', `${base}/artifacts/agent-boot.json`]);
  const again = await boot({ from: '127.0.0.3' });
  assert.equal(again.redirects, 1);
  assert.equal(again.sha256, initrd().sha256);
  await curl(['--interface', '127.0.0.3', '-o', '/dev/null', `${base}/artifacts/agent-boot.json`]);

  // The holder itself asking is never sent to itself.
  const self = await boot({ from: '127.0.0.2' });
  assert.equal(self.redirects, 0);
  assert.equal(self.sha256, initrd().sha256);
});

test('an agent with the ramdisk stage 0 kept keeps it without fetching and frees the file; a holder that vanished is not chosen', async () => {
  const retained = join(stateDir, 'retained-initrd');
  writeFileSync(retained, initrd().data);
  const a = await agent('127.0.0.4', retained);
  assert.deepEqual(a.kept.kept.find((k) => k.name === 'initrd.img')?.how, 'retained');
  assert.equal(existsSync(retained), false, 'the kept file is removed once the store holds its bytes');
  await until('the seed hears the agent holds the ramdisk', () => offload.candidates({ name: 'initrd.img', sha256: initrd().sha256, size: initrd().data.length }).some((c) => c.complete && c.ip === '127.0.0.4'));
  const r = await boot({ from: '127.0.0.5' });
  assert.equal(r.redirects, 1);
  assert.match(r.url, /^http:\/\/127\.0\.0\.4:/);
  assert.equal(r.sha256, initrd().sha256);
  await curl(['--interface', '127.0.0.5', '-o', '/dev/null', `${base}/artifacts/agent-boot.json`]);

  await a.stop();
  await sleep(TTL_MS + 500); // its announcement expired
  assert.equal(offload.candidates({ name: 'initrd.img', sha256: initrd().sha256, size: initrd().data.length }).length, 0);
  const after = await boot({ from: '127.0.0.5' });
  assert.equal(after.code, 0, after.stderr);
  assert.equal(after.redirects, 0);
  assert.equal(after.sha256, initrd().sha256);
});

test('an agent that cannot keep the ramdisk tells the seed, and the seat of the copy the seed sent its machine frees at once', async () => {
  assert.equal(offload.candidates({ name: 'initrd.img', sha256: initrd().sha256, size: initrd().data.length }).length, 0, 'no holder left from before');
  const ipxe = (from: string) => curl(['-A', 'iPXE/1.21.1+ (g0)', '--interface', from, '-o', '/dev/null', '-w', '%{http_code}', `${base}/artifacts/initrd.img`]);
  // The machine at 127.0.0.1 gets the seed's one copy (seedConcurrent 1); the next machine waits.
  assert.equal((await ipxe('127.0.0.1')).stdout.toString(), '200');
  assert.equal((await ipxe('127.0.0.6')).stdout.toString(), '503');
  // Its agent (requests from 127.0.0.1) has a store too small for the 3 MiB ramdisk stage 0 left it.
  const left = join(stateDir, 'left-by-stage0');
  writeFileSync(left, initrd().data);
  const a = await agent('127.0.0.7', left, 1 * MiB);
  assert.deepEqual(a.kept.skipped.map((k) => [k.name, k.sha256]), [['initrd.img', initrd().sha256]]);
  assert.equal(existsSync(left), false, 'the file stage 0 left is removed though not kept (its memory back)');
  assert.match(a.kept.skipped[0]!.why, /do not fit in the blob store/);
  assert.match(await metrics(), /^lpmos_boot_declined_seats_total 1$/m);
  assert.equal((await ipxe('127.0.0.6')).stdout.toString(), '200', 'the freed seat went to the waiting machine');
  // The route refuses what is not a digest, as JSON.
  const bad = await curl(['-X', 'POST', '-w', ' %{http_code}', `${base}/api/v1/boot-files/declined?sha256=nothex`]);
  assert.match(bad.stdout.toString(), /"code":"E_USAGE".*not 64 hex digits.* 400$/s);
  const none = await curl(['-X', 'POST', '-w', ' %{http_code}', `${base}/api/v1/boot-files/declined`]);
  assert.match(none.stdout.toString(), / 400$/);
});

test('iPXE on BIOS boots through stage 0 only when the seed offloads (stage 0 exists so agents keep the ramdisk)', async () => {
  const script = async (url: string) => (await curl([`${url}/boot/ipxe?mac=52:54:00:0f:00:99&platform=pcbios&arch=x86_64`])).stdout.toString();
  const on = await script(base);
  assert.match(on, /^initrd --name stage0 http:\/\/127\.0\.0\.1:\d+\/artifacts\/stage0\.img \|\| goto failed$/m);
  assert.match(on, /^initrd --name initrd\.img \S+\/artifacts\/initrd\.img \/lpmos-initrd\.img \|\| goto failed$/m);
  const off = await startHttp(
    { address: '127.0.0.1', port: 0, artifacts: [files.dir] },
    { logger: silentLogger(), store, keys, site: SITE, prefix: '/lpmos/', etcdEndpoints: etcd.endpoints, offload: new BootOffload({ on: false, networks: ['127.0.0.0/8'] }) },
  );
  cleanups.push(() => off.stop());
  const plain = await script(`http://127.0.0.1:${off.port}`);
  assert.match(plain, /^initrd --name initrd\.img \S+\/artifacts\/initrd\.img \|\| goto failed$/m);
  assert.ok(!plain.includes('stage0'), 'offload off: the initramfs path only');
  // A stage 0 from another directory than the ramdisk is not used (it knows another ramdisk's layers).
  const ramdisk = await artifactDir({ vmlinuz: 1000, 'initrd.img': 5000 });
  const stray = await artifactDir({ 'stage0.img': 4096 });
  cleanups.push(() => ramdisk.cleanup(), () => stray.cleanup());
  const mixed = await startHttp(
    { address: '127.0.0.1', port: 0, artifacts: [ramdisk.dir, stray.dir] },
    { logger: silentLogger(), store, keys, site: SITE, prefix: '/lpmos/', etcdEndpoints: etcd.endpoints, offload },
  );
  cleanups.push(() => mixed.stop());
  assert.ok(!(await script(`http://127.0.0.1:${mixed.port}`)).includes('stage0'), 'stage 0 of another build: not used');
});
