// The seed's swarm settings, with the Seed in this process against a real etcd: the swarm runs on
// --address (any free port here) and its addresses become the boot scripts' lpmos.bootstrap; the
// identity survives a restart (same peer id); --swarm off runs none and gives agents none; an
// explicit --swarm-bootstrap wins over the seed's own addresses.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeAgentCmdline } from '../../core/cmdline.ts';
import { silentLogger } from '../../core/log.ts';
import { seedConfigSchema } from '../../seed/config.ts';
import { Seed } from '../../seed/seed.ts';
import { TestEtcd } from '../helpers/etcd.ts';

let etcd: TestEtcd;
const dir = mkdtempSync(join(tmpdir(), `lpmos-seed-swarm-settings-${process.pid}-`));
const art = join(dir, 'artifacts');

before(async () => {
  etcd = await TestEtcd.start();
  mkdirSync(art);
  const files = ['vmlinuz', 'initrd.img'].map((name) => {
    writeFileSync(join(art, name), name);
    return { name, sha256: createHash('sha256').update(name).digest('hex'), size: name.length };
  });
  writeFileSync(join(art, 'manifest.json'), JSON.stringify({ files }));
});

after(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function withSeed(settings: Record<string, unknown>, fn: (seed: Seed, bootstrap: string[]) => Promise<void>): Promise<void> {
  const config = seedConfigSchema.parse({ stateDir: join(dir, 'state'), etcd: etcd.endpoints.join(','), address: '127.0.0.1', etcdAgentPort: 0, swarmPort: 0, httpPort: 0, httpAddress: '127.0.0.1', httpArtifacts: art, mirror: 'off', ...settings });
  const seed = new Seed(config, { logger: silentLogger() });
  await seed.start();
  try {
    const res = await fetch(`http://127.0.0.1:${seed.http!.port}/boot/ipxe?mac=52:54:00:fc:00:01`);
    const script = await res.text();
    assert.equal(res.status, 200, script);
    const line = script.split('\n').find((l) => l.startsWith('kernel '))?.replace(/^kernel \S+ /, '') ?? '';
    await fn(seed, decodeAgentCmdline(line).bootstrap);
  } finally {
    await seed.stop();
  }
  assert.equal(seed.swarm, undefined, 'stopped with the seed');
}

test('swarm on --address: bootstrap = its listen address with /p2p/<peer id>; the identity survives a restart', async () => {
  let first = '';
  await withSeed({}, async (seed, bootstrap) => {
    assert.ok(seed.swarm, 'seed.swarm is there');
    first = seed.swarm.peerId;
    assert.equal(bootstrap.length, 1);
    assert.match(bootstrap[0]!, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${first}$`));
    assert.deepEqual(bootstrap, seed.swarm.bootstrapAddrs());
  });
  await withSeed({}, async (seed) => {
    assert.equal(seed.swarm?.peerId, first, 'same peer id after a restart');
  });
});

test('--swarm off: no swarm, no lpmos.bootstrap; --swarm-bootstrap wins over the seed\'s own', async () => {
  await withSeed({ swarm: 'off' }, async (seed, bootstrap) => {
    assert.equal(seed.swarm, undefined);
    assert.deepEqual(bootstrap, []);
  });
  const other = '/ip4/10.213.112.7/tcp/4001/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK';
  await withSeed({ swarmBootstrap: other }, async (seed, bootstrap) => {
    assert.ok(seed.swarm, 'the swarm still runs');
    assert.deepEqual(bootstrap, [other]);
  });
});

test('a swarm port in use: the seed refuses to start and says which flags', async () => {
  await withSeed({}, async (seed) => {
    const port = Number(/\/tcp\/(\d+)\//.exec(seed.swarm!.bootstrapAddrs()[0]!)?.[1]);
    const second = new Seed(seedConfigSchema.parse({ stateDir: join(dir, 'state2'), etcd: etcd.endpoints.join(','), address: '127.0.0.1', etcdAgentPort: 0, swarmPort: port, mirror: 'off' }), { logger: silentLogger() });
    await assert.rejects(second.start(), (e: Error) => /--address 127\.0\.0\.1 --swarm-port \d+/.test(e.message));
    assert.equal(second.swarm, undefined);
  });
});
