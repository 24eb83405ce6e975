// The seed starts its HTTP server when a port or an artifact directory is configured, gives agents
// its etcd endpoints, and stops it with itself; without HTTP settings there is no HTTP server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCmdline } from '../../core/cmdline.ts';
import { silentLogger } from '../../core/log.ts';
import { seedConfigSchema } from '../../seed/config.ts';
import { Seed } from '../../seed/seed.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { artifactDir } from './http-helpers.ts';

let etcd: TestEtcd;
let state: string;
let dir: Awaited<ReturnType<typeof artifactDir>>;

before(async () => {
  etcd = await TestEtcd.start();
  state = await mkdtemp(join(tmpdir(), `lpm-http-seed-${process.pid}-`));
  dir = await artifactDir({ 'vmlinuz': 100, 'initrd.img': 200 });
});
after(async () => {
  await etcd?.stop();
  await rm(state, { recursive: true, force: true });
  await dir?.cleanup();
});

test('seed with --http-artifacts and --http-port serves boot scripts; stop() closes the port', async () => {
  const config = seedConfigSchema.parse({ stateDir: state, etcd: etcd.endpoints.join(','), site: 'lab', httpPort: '0', httpAddress: '127.0.0.1', httpArtifacts: dir.dir, swarmBootstrap: '/ip4/127.0.0.1/tcp/4001' });
  const seed = new Seed(config, { logger: silentLogger() });
  await seed.start();
  let base = '';
  try {
    assert.ok(seed.http, 'HTTP started');
    base = `http://127.0.0.1:${seed.http.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const script = await (await fetch(`${base}/boot/ipxe?mac=52:54:00:cc:00:01`)).text();
    const line = script.split('\n').find((l) => l.startsWith('kernel ')) ?? '';
    const args = parseCmdline(line);
    assert.equal(args.get('lpmos.etcd'), etcd.endpoints.join(','));
    assert.equal(args.get('lpmos.site'), 'lab');
    assert.equal(args.get('lpmos.bootstrap'), '/ip4/127.0.0.1/tcp/4001');
    assert.ok(await seed.store.get(seed.keys.machine('m-525400cc0001')), 'enrolled in the seed\'s etcd');
  } finally {
    await seed.stop();
  }
  await assert.rejects(fetch(`${base}/healthz`), 'the port is closed after stop()');
});

test('seed without HTTP settings starts no HTTP server', async () => {
  const seed = new Seed(seedConfigSchema.parse({ stateDir: state, etcd: etcd.endpoints[0] }), { logger: silentLogger() });
  await seed.start();
  try {
    assert.equal(seed.http, undefined);
  } finally {
    await seed.stop();
  }
});
