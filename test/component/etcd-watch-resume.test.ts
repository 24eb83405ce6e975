// A watch survives etcd being SIGKILLed and restarted on the same data dir and port: every
// event arrives exactly once, in revision order, for a watcher that keeps up and for one that
// lags behind (so it resumes from history, not from "now").
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { isLpmosError } from '../../core/errors.ts';
import type { WatchEvent } from '../../core/store/store.ts';
import { Writable } from 'node:stream';
import { createLogger } from '../../core/log.ts';
import { EtcdStore } from '../../store/etcd.ts';
import { TestEtcd } from '../helpers/etcd.ts';

const N = 2000;
const KILL_AT = 700;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let etcd: TestEtcd;
before(async () => {
  etcd = await TestEtcd.start();
});
after(async () => {
  await etcd?.stop();
});

it(`watch resumes after etcd is killed mid-stream: ${N} events, each once, in order`, { timeout: 60_000 }, async (t) => {
  // The store's own log proves that both watches broke and resumed (and from where).
  const logged: { msg: string; fromRevision?: number }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logged.push(JSON.parse(line) as { msg: string });
      done();
    },
  });
  const logger = createLogger({ format: 'json', level: 'info', destination: sink });
  const store = new EtcdStore({ endpoints: etcd.endpoints, timeoutMs: 2000, logger });
  // A second client whose watch buffer is tiny: its slow consumer pushes back to etcd, so at the
  // kill it is far behind and resumes from history.
  const slowStore = new EtcdStore({ endpoints: etcd.endpoints, timeoutMs: 2000, logger, watchBuffer: 20 });
  const t0 = Date.now();
  const mark = (what: string): void => t.diagnostic(`${Date.now() - t0} ms: ${what}`);
  const ac = new AbortController();
  let restarted: Promise<void> | undefined;
  try {
    const key = (i: number): string => `/resume/${String(i).padStart(5, '0')}`;
    const value = (i: number): string => `${i}:${'v'.repeat(1024)}`;
    const from = (await store.revision()) + 1;
    let killed: () => void = () => undefined;
    const killedNow = new Promise<void>((r) => {
      killed = r;
    });
    const follow = async (client: EtcdStore, lag: boolean): Promise<WatchEvent[]> => {
      const out: WatchEvent[] = [];
      for await (const ev of client.watch('/resume/', { signal: ac.signal, fromRevision: from })) {
        out.push(ev);
        // The slow one stalls after 50 events until etcd was killed: with 1 KiB values the
        // HTTP/2 and etcd buffers hold far fewer than the 650 events it is behind.
        if (lag && out.length === 50) await killedNow;
        if (out.length === N) break;
      }
      return out;
    };
    const fast = follow(store, false);
    const slow = follow(slowStore, true);
    // A watcher that fails must fail the test now, not leave the writer running.
    for (const p of [fast, slow]) p.catch(() => ac.abort());

    let retries = 0;
    for (let i = 0; i < N; i++) {
      ac.signal.throwIfAborted();
      if (i === KILL_AT) {
        mark('kill');
        await etcd.kill();
        killed();
        restarted = sleep(300).then(() => etcd.restart());
      }
      // "Must not exist" makes the retry of a write whose answer was lost harmless.
      for (;;) {
        try {
          const res = await store.txn([{ key: key(i), modRevision: 0 }], [{ type: 'put', key: key(i), value: value(i) }]);
          if (!res.succeeded) assert.equal((await store.get(key(i)))?.value, value(i));
          break;
        } catch (e) {
          assert.ok(isLpmosError(e, 'E_UNAVAILABLE'), `unexpected ${String(e)}`);
          assert.ok(++retries < 300, 'etcd did not come back within 15 s');
          await sleep(50);
        }
      }
    }
    mark('written');
    await restarted;
    assert.ok(retries > 0, 'the writer noticed the outage');

    const timeout = setTimeout(() => ac.abort(), 30_000);
    const [a, b] = await Promise.all([fast, slow]);
    clearTimeout(timeout);
    mark('watched');
    const resumes = logged.filter((l) => l.msg === 'etcd watch resumed');
    assert.equal(resumes.length, 2, 'each watcher resumed once');
    // The lagging watcher resumed further back than the one that kept up: from history.
    const [r1, r2] = resumes.map((r) => r.fromRevision ?? 0).sort((x, y) => x - y);
    assert.ok((r1 as number) + 100 < (r2 as number), `resume points ${r1}, ${r2}`);
    const { kvs } = await store.list('/resume/');
    assert.equal(kvs.length, N);
    for (const [name, events] of [['fast', a], ['slow', b]] as const) {
      assert.equal(events.length, N, `${name} watcher got ${events.length} events`);
      events.forEach((ev, i) => {
        assert.equal(ev.type, 'put');
        assert.equal(ev.key, key(i), `${name} watcher: event ${i} out of order or repeated`);
        assert.equal(ev.value, value(i));
        assert.equal(ev.modRevision, kvs[i]?.modRevision, `${name} watcher: wrong revision for ${ev.key}`);
      });
    }
  } finally {
    ac.abort();
    await restarted?.catch(() => undefined);
    await store.close();
    await slowStore.close();
  }
});

it('a lease is reported lost when etcd stays unreachable for longer than its TTL', { timeout: 30_000 }, async () => {
  const store = new EtcdStore({ endpoints: etcd.endpoints, timeoutMs: 1000 });
  try {
    const lease = await store.grantLease(1);
    await sleep(700); // at least one keep-alive went through
    assert.equal(lease.lost.aborted, false);
    await etcd.kill();
    const t0 = Date.now();
    while (!lease.lost.aborted && Date.now() - t0 < 5000) await sleep(50);
    assert.equal(lease.lost.aborted, true, 'lost did not fire');
    assert.ok(Date.now() - t0 < 2500, `lost after ${Date.now() - t0} ms`);
  } finally {
    await store.close();
    await etcd.restart();
  }
});
