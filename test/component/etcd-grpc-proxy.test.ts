// The seed's etcd gRPC proxy in front of an external cluster: reads, writes, transactions and a
// watch go through it; it comes back after being killed; stop() ends it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../store/connect.ts';
import { EtcdGrpcProxy, grpcProxyArgs } from '../../store/etcd-grpc-proxy.ts';
import { freePort } from '../../store/ports.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { silentLogger } from '../../core/log.ts';
import { seedConfigSchema } from '../../seed/config.ts';
import { Seed } from '../../seed/seed.ts';
import { decodeAgentCmdline } from '../../core/cmdline.ts';

let etcd: TestEtcd;
let proxy: EtcdGrpcProxy;
const dir = mkdtempSync(join(tmpdir(), `lpmos-grpc-proxy-${process.pid}-`));

describe('etcd grpc-proxy in front of an external cluster', () => {
  before(async () => {
    etcd = await TestEtcd.start();
    proxy = new EtcdGrpcProxy({ endpoints: etcd.endpoints, listen: `127.0.0.1:${await freePort()}`, logFile: join(dir, 'proxy.log') });
    await proxy.start();
  });
  after(async () => {
    await proxy?.stop();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('command line names the cluster without schemes and the listen address', () => {
    assert.deepEqual(grpcProxyArgs({ endpoints: ['https://10.0.0.5:2379', 'http://10.0.0.6:2379'], listen: '10.213.64.1:2379', logFile: '/x', tls: { caFile: '/ca' } }), [
      'grpc-proxy', 'start', '--endpoints=10.0.0.5:2379,10.0.0.6:2379', '--listen-addr=10.213.64.1:2379', '--advertise-client-url=10.213.64.1:2379', '--cacert=/ca',
    ]);
  });

  it('writes through the proxy land in the cluster; a watch through it sees them', async () => {
    const viaProxy = await openStore({ endpoints: [proxy.url] });
    const direct = await openStore({ endpoints: etcd.endpoints });
    try {
      const stop = new AbortController();
      const seen: string[] = [];
      const from = (await viaProxy.revision()) + 1;
      const watching = (async () => {
        for await (const ev of viaProxy.watch('/t/', { signal: stop.signal, fromRevision: from })) {
          seen.push(ev.key);
          if (seen.length === 2) stop.abort();
        }
      })();
      await viaProxy.put('/t/a', '1');
      const r = await viaProxy.txn([{ key: '/t/b', modRevision: 0 }], [{ type: 'put', key: '/t/b', value: '2' }]);
      assert.ok(r.succeeded);
      assert.equal((await direct.get('/t/b'))?.value, '2');
      await watching;
      assert.deepEqual(seen, ['/t/a', '/t/b']);
    } finally {
      await viaProxy.close();
      await direct.close();
    }
  });

  it('a killed proxy is restarted', async () => {
    const pid = proxy.pid;
    assert.ok(pid);
    process.kill(pid, 'SIGKILL');
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      await new Promise((r) => setTimeout(r, 300));
      try {
        const s = await openStore({ endpoints: [proxy.url], timeoutMs: 1000 });
        ok = (await s.get('/t/a'))?.value === '1';
        await s.close();
      } catch {
        /* not yet */
      }
    }
    assert.ok(ok, 'store reachable through the proxy again');
    assert.equal(proxy.restarts, 1);
    assert.notEqual(proxy.pid, pid);
  });

  it('a seed with --etcd (external) and --address gives agents the proxy on the provisioning address', async () => {
    const agentPort = await freePort();
    // Stand-in agent files: the script only names them.
    const art = join(dir, 'artifacts');
    mkdirSync(art);
    const files = ['vmlinuz', 'initrd.img'].map((name) => {
      writeFileSync(join(art, name), name);
      return { name, sha256: createHash('sha256').update(name).digest('hex'), size: name.length };
    });
    writeFileSync(join(art, 'manifest.json'), JSON.stringify({ files }));
    const seed = new Seed(seedConfigSchema.parse({ stateDir: join(dir, 'seed'), etcd: etcd.endpoints.join(','), address: '127.0.0.1', etcdAgentPort: agentPort, httpPort: 0, httpAddress: '127.0.0.1', httpArtifacts: art, mirror: 'off' }), { logger: silentLogger() });
    await seed.start();
    try {
      const res = await fetch(`http://127.0.0.1:${seed.http!.port}/boot/ipxe?mac=52:54:00:aa:bb:01`);
      const script = await res.text();
      assert.equal(res.status, 200, script);
      const kernelLine = script.split('\n').find((l) => l.startsWith('kernel ')) ?? '';
      const settings = decodeAgentCmdline(kernelLine.replace(/^kernel \S+ /, ''));
      assert.deepEqual(settings.etcd, [`http://127.0.0.1:${agentPort}`]);
      const viaAgentUrl = await openStore({ endpoints: settings.etcd });
      try {
        assert.ok(await viaAgentUrl.get(seed.keys.machine('m-525400aabb01')), 'the enrolled machine is visible through the proxy');
      } finally {
        await viaAgentUrl.close();
      }
    } finally {
      await seed.stop();
    }
  });
});
