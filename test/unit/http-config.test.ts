import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLpmosError } from '../../core/errors.ts';
import { Keys } from '../../core/keys.ts';
import { silentLogger } from '../../core/log.ts';
import { httpConfigSchema } from '../../seed/http/config.ts';
import { startHttp } from '../../seed/http/server.ts';
import { MemoryStore } from '../../store/memory.ts';

test('defaults: every interface on 8080, agent vmlinuz + initrd.img, serial console last', () => {
  const c = httpConfigSchema.parse({});
  assert.equal(c.address, '0.0.0.0');
  assert.equal(c.port, 8080);
  assert.deepEqual(c.artifacts, []);
  assert.equal(c.agentKernel, 'vmlinuz');
  assert.equal(c.agentInitrd, 'initrd.img');
  assert.match(c.console, /console=ttyS0,115200n8$/);
  assert.deepEqual(httpConfigSchema.parse({ artifacts: '/a, /b,', agentEtcd: 'http://10.0.0.1:2379' }).artifacts, ['/a', '/b']);
  assert.equal(httpConfigSchema.parse({ port: '8081' }).port, 8081);
});

test('bad settings are refused naming the flag, before anything listens', async () => {
  const store = new MemoryStore();
  const deps = { logger: silentLogger(), store, keys: new Keys(), site: 'default', prefix: '/lpmos/', etcdEndpoints: ['http://127.0.0.1:2379'] };
  try {
    const cases: Array<[object, string]> = [
      [{ address: 'eth0' }, '--http-address'],
      [{ port: 70000 }, '--http-port'],
      [{ publicUrl: 'ftp://x' }, '--http-public-url'],
      [{ cmdline: 'a\nshell' }, '--http-cmdline'],
      [{ swarmBootstrap: 'x\ny' }, '--swarm-bootstrap'],
    ];
    for (const [config, flag] of cases) {
      await assert.rejects(startHttp(config, deps), (e: unknown) => isLpmosError(e, 'E_USAGE') && e.details.some((d) => d.path === flag), flag);
    }
    await assert.rejects(startHttp({ port: 0, address: '127.0.0.1' }, { ...deps, etcdEndpoints: [] }), /--agent-etcd/);
  } finally {
    await store.close();
  }
});
