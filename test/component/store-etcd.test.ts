// The store contract on a real etcd (Debian etcd-server), plus etcd-only behaviour:
// unreachable clusters, the --etcd flag parser, paging with a small page size.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { Etcd3 } from 'etcd3';
import { createLogger } from '../../core/log.ts';
import { isLpmosError } from '../../core/errors.ts';
import { openStore, parseEtcdEndpoints } from '../../store/connect.ts';
import { EtcdStore } from '../../store/etcd.ts';
import { freePort } from '../../store/ports.ts';
import { storeContract } from '../contract/store-contract.ts';
import { TestEtcd } from '../helpers/etcd.ts';

storeContract('etcd', async () => {
  const etcd = await TestEtcd.start();
  const store = new EtcdStore({ endpoints: etcd.endpoints });
  const raw = new Etcd3({ hosts: etcd.endpoints });
  const others: EtcdStore[] = [];
  return {
    store,
    open: async () => {
      const s = new EtcdStore({ endpoints: etcd.endpoints });
      others.push(s);
      return s;
    },
    compact: (revision) => store.compact(revision),
    revokeElsewhere: async (id) => {
      await raw.leaseClient.leaseRevoke({ ID: id });
    },
    teardown: async () => {
      await store.close();
      for (const s of others) await s.close();
      raw.close();
      await etcd.stop();
    },
  };
});

describe('etcd store: edges', { timeout: 60_000 }, () => {
  let etcd: TestEtcd;
  before(async () => {
    etcd = await TestEtcd.start();
  });
  after(async () => {
    await etcd?.stop();
  });

  it('an unreachable cluster is E_UNAVAILABLE naming the endpoints, quickly', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const t0 = Date.now();
    await assert.rejects(openStore({ endpoints: [url], timeoutMs: 2000 }), (e: unknown) => {
      assert.ok(isLpmosError(e, 'E_UNAVAILABLE'), String(e));
      assert.match((e as Error).message, new RegExp(url.replace(/[.:/]/g, '\\$&')));
      return true;
    });
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  });

  it('lists page by page at one revision: concurrent txns never show up half-applied', async () => {
    const store = new EtcdStore({ endpoints: etcd.endpoints, pageSize: 7 });
    const keys = Array.from({ length: 100 }, (_, i) => `/paged/${String(i).padStart(3, '0')}`);
    const writeGen = (g: number) => store.txn([], keys.map((key) => ({ type: 'put' as const, key, value: `gen-${g}` })));
    let stop = false;
    try {
      await writeGen(0);
      // A writer rewrites all 100 keys in one txn, over and over, while we list 15 pages a time.
      const writer = (async () => {
        for (let g = 1; !stop; g++) await writeGen(g);
      })();
      const seen = new Set<string>();
      for (let i = 0; i < 10; i++) {
        const res = await store.list('/paged/');
        assert.deepEqual(res.kvs.map((kv) => kv.key), keys);
        const gens = new Set(res.kvs.map((kv) => kv.value));
        assert.equal(gens.size, 1, `one listing mixed generations ${[...gens].join(', ')}`);
        assert.ok(res.kvs.every((kv) => kv.modRevision <= res.revision));
        seen.add([...gens][0] as string);
      }
      stop = true;
      await writer;
      assert.ok(seen.size > 1, 'the writer ran while listing');
    } finally {
      stop = true;
      await store.close();
    }
  });

  it('splits a list page that exceeds the message limit', async () => {
    const store = new EtcdStore({ endpoints: etcd.endpoints, maxReceiveBytes: 64 * 1024 });
    try {
      const big = 'b'.repeat(10 * 1024);
      await store.txn([], Array.from({ length: 40 }, (_, i) => ({ type: 'put' as const, key: `/big/${String(i).padStart(2, '0')}`, value: `${i}${big}` })));
      const res = await store.list('/big/'); // 400 KiB in one page would be over 64 KiB
      assert.deepEqual(res.kvs.map((kv) => kv.value), Array.from({ length: 40 }, (_, i) => `${i}${big}`));
      await assert.rejects(store.put('/big/huge', 'h'.repeat(2 * 1024 * 1024)), (e: unknown) => isLpmosError(e, 'E_VALIDATION') && /too large/.test((e as Error).message));
    } finally {
      await store.close();
    }
  });

  it('ending one watch or lease disturbs no other watch, keep-alive or call of the store', async () => {
    const logged: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logged.push(chunk.toString());
        done();
      },
    });
    const store = new EtcdStore({ endpoints: etcd.endpoints, logger: createLogger({ format: 'json', level: 'debug', destination: sink }) });
    // etcd3 closes every channel of a host (all streams and calls of the store) when it thinks
    // the host failed, and a cancelled stream that is still writable looks like a failure.
    // Count those resets through its (pinned, internal) Host class.
    const { Host } = createRequire(import.meta.url)('etcd3/lib/connection-pool.js') as { Host: { prototype: { resetAllServices(): void } } };
    const original = Host.prototype.resetAllServices;
    let resets = 0;
    Host.prototype.resetAllServices = function (this: unknown) {
      resets++;
      original.call(this);
    };
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), 10_000);
    try {
      const from = (await store.revision()) + 1;
      const other: string[] = [];
      const follower = (async () => {
        for await (const ev of store.watch('/iso/', { signal: ac.signal, fromRevision: from })) {
          other.push(ev.key);
          if (other.length === 101) break;
        }
      })();
      await store.put('/iso/first', '1');
      for (let round = 0; round < 5; round++) {
        // A short-lived watch and lease, ended while calls are in flight.
        const short = new AbortController();
        const w = (async () => {
          for await (const _ev of store.watch('/iso/', { signal: short.signal, fromRevision: from })) break;
        })();
        const lease = await store.grantLease(5);
        const calls = Array.from({ length: 20 }, (_, i) => store.put(`/iso/${round}-${i}`, 'x'));
        await w;
        await lease.revoke();
        await Promise.all(calls);
      }
      await follower;
      assert.equal(other.length, 101);
      assert.equal(logged.filter((l) => /watch broken|stream broken/.test(l)).length, 0, logged.join(''));
      assert.equal(resets, 0, 'ending a watch or lease reset the connections of the whole store');
    } finally {
      Host.prototype.resetAllServices = original;
      clearTimeout(t);
      ac.abort();
      await store.close();
    }
  });

  it('fails over to the next endpoint when one is down', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    for (const endpoints of [[dead, ...etcd.endpoints], [...etcd.endpoints, dead]]) {
      const store = await openStore({ endpoints, timeoutMs: 2000 });
      try {
        for (let i = 0; i < 20; i++) {
          await store.put(`/failover/${i}`, String(i));
          assert.equal((await store.get(`/failover/${i}`))?.value, String(i));
        }
        assert.equal((await store.list('/failover/')).kvs.length, 20);
      } finally {
        await store.close();
      }
    }
  });

  it('--etcd parser: normalises URLs and names the bad one', () => {
    assert.deepEqual(parseEtcdEndpoints('http://127.0.0.1:2379, http://10.0.0.2:2380'), ['http://127.0.0.1:2379', 'http://10.0.0.2:2380']);
    assert.deepEqual(parseEtcdEndpoints('https://etcd.example'), ['https://etcd.example:2379']);
    assert.deepEqual(parseEtcdEndpoints('http://[::1]:2379'), ['http://[::1]:2379']);
    for (const [value, bad] of [['http://a:1,localhost:2379', 'localhost:2379'], ['ftp://x:1', 'ftp://x:1'], ['http://a:1/v3', 'http://a:1/v3'], ['nonsense', 'nonsense']] as const) {
      assert.throws(() => parseEtcdEndpoints(value), (e: unknown) => isLpmosError(e, 'E_USAGE') && (e as Error).message.includes(`"${bad}"`), value);
    }
    assert.throws(() => parseEtcdEndpoints(' , '), (e: unknown) => isLpmosError(e, 'E_USAGE'));
    assert.throws(() => parseEtcdEndpoints('http://a:1,https://b:2'), (e: unknown) => isLpmosError(e, 'E_USAGE') && /mixes/.test((e as Error).message));
  });

  it('a call after close() is E_UNAVAILABLE; an aborted signal rejects with the abort reason', async () => {
    const store = await openStore({ endpoints: etcd.endpoints });
    const ac = new AbortController();
    ac.abort(new Error('caller gave up'));
    await assert.rejects(store.get('/x', { signal: ac.signal }), /caller gave up/);
    await store.close();
    await assert.rejects(store.get('/x'), (e: unknown) => isLpmosError(e, 'E_UNAVAILABLE'));
  });
});
