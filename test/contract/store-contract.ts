// The one contract every Store backend passes (DESIGN §5.3). Run by
// test/unit/store-memory.test.ts (memory twin) and test/component/store-etcd.test.ts (real etcd).
// Each test works under its own key prefix, so one backend serves the whole suite.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isLpmosError } from '../../core/errors.ts';
import type { Store, WatchEvent } from '../../core/store/store.ts';

export interface StoreHarness {
  /** The client the tests use. */
  store: Store;
  /** Another client of the same backend: another process's view. */
  open(): Promise<Store>;
  /** Compacts the backend's history before `revision`. */
  compact(revision: number): Promise<void>;
  /** Revokes a lease behind its holder's back (an operator, or etcd itself). */
  revokeElsewhere(leaseId: string): Promise<void>;
  teardown(): Promise<void>;
}

let seq = 0;
const unique = (): string => `/contract/${process.pid}-${Date.now().toString(36)}-${seq++}/`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Collects events until `count` arrived (then aborts) or `ms` passed. */
async function collect(store: Store, prefix: string, count: number, ms: number, fromRevision?: number): Promise<WatchEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  const out: WatchEvent[] = [];
  try {
    for await (const ev of store.watch(prefix, { signal: ac.signal, ...(fromRevision !== undefined ? { fromRevision } : {}) })) {
      out.push(ev);
      if (out.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return out;
}

async function waitFor(what: string, cond: () => Promise<boolean>, ms: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await cond()) return Date.now() - start;
    await sleep(50);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Every contract test ends within this, also when a watch never delivers. */
const T = { timeout: 30_000 };

export function storeContract(name: string, setup: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${name}`, () => {
    let h: StoreHarness;
    let s: Store;
    before(async () => {
      h = await setup();
      s = h.store;
    });
    after(async () => {
      await h?.teardown();
    });

    it('put/get: revisions and versions follow etcd', T, async () => {
      const p = unique();
      assert.equal(await s.get(`${p}k`), undefined);
      const r1 = await s.put(`${p}k`, 'v1');
      assert.ok(r1 > 0);
      assert.equal(await s.revision(), r1, 'revision() is the last write');
      assert.deepEqual(await s.get(`${p}k`), { key: `${p}k`, value: 'v1', createRevision: r1, modRevision: r1, version: 1 });
      const r2 = await s.put(`${p}k`, 'v2');
      assert.equal(r2, r1 + 1, 'each write makes exactly one revision');
      assert.deepEqual(await s.get(`${p}k`), { key: `${p}k`, value: 'v2', createRevision: r1, modRevision: r2, version: 2 });
      // Values are arbitrary strings, including UTF-8 and JSON.
      const json = JSON.stringify({ name: 'web-01', note: 'grüße ✓', n: [1, 2] });
      await s.put(`${p}j`, json);
      assert.equal((await s.get(`${p}j`))?.value, json);
    });

    it('delete: true only when the key existed; re-create starts at version 1', T, async () => {
      const p = unique();
      await s.put(`${p}k`, 'a');
      const before = await s.revision();
      assert.equal(await s.delete(`${p}missing`), false);
      assert.equal(await s.revision(), before, 'deleting nothing makes no revision');
      assert.equal(await s.delete(`${p}k`), true);
      assert.equal(await s.revision(), before + 1);
      assert.equal(await s.get(`${p}k`), undefined);
      assert.equal(await s.delete(`${p}k`), false);
      const r = await s.put(`${p}k`, 'b');
      assert.deepEqual(await s.get(`${p}k`), { key: `${p}k`, value: 'b', createRevision: r, modRevision: r, version: 1 });
    });

    it('list: key order (bytes), prefix isolation, keysOnly, revision', T, async () => {
      const p = unique();
      const keys = ['m/b', 'm/a', 'm/ab', 'm/é', 'm/z', 'm/a/x', 'm', 'mm/a', 'l/a'];
      for (const k of keys) await s.put(`${p}${k}`, `value of ${k}`);
      const res = await s.list(`${p}m/`);
      // Byte order: "a" < "a/x" < "ab" < "b" < "z" < "é" (0xC3 sorts after ASCII).
      assert.deepEqual(res.kvs.map((kv) => kv.key), ['m/a', 'm/a/x', 'm/ab', 'm/b', 'm/z', 'm/é'].map((k) => `${p}${k}`));
      for (const kv of res.kvs) assert.equal(kv.value, `value of ${kv.key.slice(p.length)}`);
      assert.equal(res.revision, await s.revision());
      const ko = await s.list(`${p}m/`, { keysOnly: true });
      assert.deepEqual(ko.kvs.map((kv) => kv.key), res.kvs.map((kv) => kv.key));
      assert.ok(ko.kvs.every((kv) => kv.value === ''), 'keysOnly drops values');
      assert.deepEqual(ko.kvs.map((kv) => kv.modRevision), res.kvs.map((kv) => kv.modRevision));
      assert.deepEqual((await s.list(`${p}m/a`)).kvs.map((kv) => kv.key), [`${p}m/a`, `${p}m/a/x`, `${p}m/ab`]);
      assert.equal((await s.list(`${p}nothing/`)).kvs.length, 0);
      assert.equal((await s.list(p)).kvs.length, keys.length);
    });

    it('list: more than 1000 keys with large values, complete and in order', T, async () => {
      const p = unique();
      const n = 2500;
      const pad = 'x'.repeat(2000);
      const names = Array.from({ length: n }, (_, i) => `machine-${String(i).padStart(5, '0')}`);
      // Write in a scrambled order, a few at a time.
      const order = names.map((_, i) => (i * 7919) % n);
      for (let i = 0; i < n; i += 100) {
        await s.txn([], order.slice(i, i + 100).map((j) => ({ type: 'put' as const, key: `${p}${names[j]}`, value: `${j}:${pad}` })));
      }
      await s.put(`${p.slice(0, -1)}0`, 'outside'); // sorts right after the prefix range
      const res = await s.list(p);
      assert.equal(res.kvs.length, n);
      res.kvs.forEach((kv, i) => {
        assert.equal(kv.key, `${p}${names[i]}`);
        assert.equal(kv.value, `${i}:${pad}`);
      });
      assert.equal((await s.list(p, { keysOnly: true })).kvs.length, n);
    });

    it('txn: compare-and-swap wins with the current modRevision, loses with a stale one', T, async () => {
      const p = unique();
      const r1 = await s.put(`${p}k`, 'v1');
      const won = await s.txn([{ key: `${p}k`, modRevision: r1 }], [{ type: 'put', key: `${p}k`, value: 'v2' }]);
      assert.equal(won.succeeded, true);
      assert.equal(won.revision, r1 + 1);
      assert.equal((await s.get(`${p}k`))?.modRevision, won.revision);
      const lost = await s.txn([{ key: `${p}k`, modRevision: r1 }], [{ type: 'put', key: `${p}k`, value: 'v3' }]);
      assert.equal(lost.succeeded, false, 'a failed compare is a result, not an error');
      assert.equal(lost.revision, won.revision, 'a failed txn makes no revision');
      assert.equal((await s.get(`${p}k`))?.value, 'v2');
      const check = await s.txn([{ key: `${p}k`, modRevision: won.revision }], []);
      assert.deepEqual(check, { succeeded: true, revision: won.revision }, 'a compare-only txn writes nothing');
    });

    it('txn: modRevision 0 means "must not exist"', T, async () => {
      const p = unique();
      const first = await s.txn([{ key: `${p}k`, modRevision: 0 }], [{ type: 'put', key: `${p}k`, value: 'mine' }]);
      assert.equal(first.succeeded, true);
      const second = await s.txn([{ key: `${p}k`, modRevision: 0 }], [{ type: 'put', key: `${p}k`, value: 'theirs' }]);
      assert.equal(second.succeeded, false);
      assert.equal((await s.get(`${p}k`))?.value, 'mine');
      await s.delete(`${p}k`);
      const third = await s.txn([{ key: `${p}k`, modRevision: 0 }], [{ type: 'put', key: `${p}k`, value: 'again' }]);
      assert.equal(third.succeeded, true, 'a deleted key does not exist again');
    });

    it('txn: several keys all or nothing, in one revision', T, async () => {
      const p = unique();
      const ra = await s.put(`${p}a`, 'a1');
      const rb = await s.put(`${p}b`, 'b1');
      await s.put(`${p}c`, 'c1');
      await s.put(`${p}sub/1`, 's');
      await s.put(`${p}sub/2`, 's');
      const ops = [
        { type: 'put' as const, key: `${p}a`, value: 'a2' },
        { type: 'put' as const, key: `${p}b`, value: 'b2' },
        { type: 'put' as const, key: `${p}new`, value: 'n' },
        { type: 'delete' as const, key: `${p}c` },
        { type: 'deletePrefix' as const, prefix: `${p}sub/` },
      ];
      const before = await s.revision();
      const stale = await s.txn([{ key: `${p}a`, modRevision: ra }, { key: `${p}b`, modRevision: rb - 1 }], ops);
      assert.equal(stale.succeeded, false);
      assert.deepEqual((await s.list(p)).kvs.map((kv) => `${kv.key.slice(p.length)}=${kv.value}`), ['a=a1', 'b=b1', 'c=c1', 'sub/1=s', 'sub/2=s']);
      assert.equal(await s.revision(), before);
      const ok = await s.txn([{ key: `${p}a`, modRevision: ra }, { key: `${p}b`, modRevision: rb }, { key: `${p}new`, modRevision: 0 }], ops);
      assert.equal(ok.succeeded, true);
      assert.equal(ok.revision, before + 1, 'the whole txn is one revision');
      const after = (await s.list(p)).kvs;
      assert.deepEqual(after.map((kv) => `${kv.key.slice(p.length)}=${kv.value}`), ['a=a2', 'b=b2', 'new=n']);
      assert.ok(after.every((kv) => kv.modRevision === ok.revision));
    });

    it('txn: the same key twice is rejected (E_VALIDATION), nothing written', T, async () => {
      const p = unique();
      await assert.rejects(
        s.txn([], [{ type: 'put', key: `${p}k`, value: '1' }, { type: 'put', key: `${p}k`, value: '2' }]),
        (e: unknown) => isLpmosError(e, 'E_VALIDATION'),
      );
      assert.equal(await s.get(`${p}k`), undefined);
    });

    it('watch from a revision: history then live, in order, puts and deletes, only the prefix', T, async () => {
      const p = unique();
      const r0 = await s.put(`${p}w/a`, '1');
      await s.put(`${p}other`, 'not mine');
      await s.put(`${p}w/b`, '2');
      await s.delete(`${p}w/a`);
      const ac = new AbortController();
      const got: WatchEvent[] = [];
      const watching = (async () => {
        for await (const ev of s.watch(`${p}w/`, { signal: ac.signal, fromRevision: r0 })) {
          got.push(ev);
          if (got.length === 7) ac.abort();
        }
      })();
      await waitFor('history', async () => got.length >= 3, 5000);
      const rTxn = (await s.txn([], [
        { type: 'put', key: `${p}w/c`, value: '3' },
        { type: 'delete', key: `${p}w/b` },
        { type: 'put', key: `${p}x`, value: 'outside' },
      ])).revision;
      await s.put(`${p}w/c`, '4');
      const rLast = await s.put(`${p}w/d`, '5');
      await watching;
      assert.deepEqual(got, [
        { type: 'put', key: `${p}w/a`, value: '1', modRevision: r0 },
        { type: 'put', key: `${p}w/b`, value: '2', modRevision: r0 + 2 },
        { type: 'delete', key: `${p}w/a`, modRevision: r0 + 3 },
        { type: 'put', key: `${p}w/c`, value: '3', modRevision: rTxn },
        { type: 'delete', key: `${p}w/b`, modRevision: rTxn },
        { type: 'put', key: `${p}w/c`, value: '4', modRevision: rTxn + 1 },
        { type: 'put', key: `${p}w/d`, value: '5', modRevision: rLast },
      ]);
    });

    it('watch without a revision: only changes after the call; several watchers each get all', T, async () => {
      const p = unique();
      await s.put(`${p}k`, 'before');
      const ac = new AbortController();
      const timeout = setTimeout(() => ac.abort(), 10_000);
      const seen: string[][] = [[], []];
      const read = async (it: AsyncIterable<WatchEvent>, out: string[]): Promise<void> => {
        for await (const ev of it) {
          out.push(`${ev.type}:${ev.key.slice(p.length)}:${ev.value ?? ''}`);
          if (ev.type === 'delete') break;
        }
      };
      const done = [read(s.watch(p, { signal: ac.signal }), seen[0] as string[]), read(s.watch(p, { signal: ac.signal }), seen[1] as string[])];
      // An etcd watch is established asynchronously: write markers until both watchers see one.
      await waitFor('watchers to start', async () => {
        await s.put(`${p}marker`, 'm');
        await sleep(20);
        return seen.every((out) => out.length > 0);
      }, 8000);
      await s.put(`${p}k`, 'one');
      await s.put(`${p}k`, 'two');
      await s.delete(`${p}k`);
      await Promise.all(done);
      clearTimeout(timeout);
      ac.abort();
      for (const out of seen) {
        assert.equal(out[0], 'put:marker:m', 'nothing from before the call');
        assert.deepEqual(out.filter((e) => !e.startsWith('put:marker')), ['put:k:one', 'put:k:two', 'delete:k:']);
      }
    });

    it('watch: aborting the signal ends the iteration and nothing more is delivered', T, async () => {
      const p = unique();
      const ac = new AbortController();
      const got: WatchEvent[] = [];
      const from = (await s.revision()) + 1;
      let ended = false;
      const loop = (async () => {
        for await (const ev of s.watch(p, { signal: ac.signal, fromRevision: from })) got.push(ev);
        ended = true;
      })();
      await s.put(`${p}1`, 'a');
      await waitFor('first event', async () => got.length === 1, 5000);
      ac.abort();
      await Promise.race([loop, sleep(3000).then(() => assert.fail('watch did not end after abort'))]);
      assert.equal(ended, true);
      await s.put(`${p}2`, 'b');
      await sleep(100);
      assert.equal(got.length, 1);
      // An already-aborted signal yields nothing, even with history to replay.
      const dead = new AbortController();
      dead.abort();
      const empty: WatchEvent[] = [];
      for await (const ev of s.watch(p, { signal: dead.signal, fromRevision: from })) empty.push(ev);
      assert.deepEqual(empty, []);
    });

    it('leases: kept alive past the TTL; revoke deletes the attached keys', T, async () => {
      const p = unique();
      const lease = await s.grantLease(2);
      assert.equal(lease.ttlSeconds, 2);
      const r = await s.put(`${p}l`, 'leased', { lease: lease.id });
      await s.put(`${p}plain`, 'stays');
      await s.put(`${p}detached`, 'leased first', { lease: lease.id });
      await s.put(`${p}detached`, 'then put without the lease'); // etcd: detaches it from the lease
      assert.equal((await s.get(`${p}l`))?.lease, lease.id);
      assert.equal((await s.get(`${p}plain`))?.lease, undefined);
      await sleep(3000); // 1.5 TTLs: only the keep-alive keeps the key
      assert.equal((await s.get(`${p}l`))?.value, 'leased');
      assert.equal(lease.lost.aborted, false);
      const events = s.watch(p, { signal: AbortSignal.timeout(5000), fromRevision: r + 4 });
      await lease.revoke();
      assert.equal(await s.get(`${p}l`), undefined);
      assert.equal((await s.get(`${p}plain`))?.value, 'stays');
      assert.equal((await s.get(`${p}detached`))?.value, 'then put without the lease');
      assert.equal(lease.lost.aborted, false, 'revoking is not losing');
      for await (const ev of events) {
        assert.deepEqual([ev.type, ev.key], ['delete', `${p}l`]);
        break;
      }
      await assert.rejects(s.put(`${p}z`, 'v', { lease: lease.id }), (e: unknown) => isLpmosError(e, 'E_NOT_FOUND'));
    });

    it('leases: a lease nobody keeps alive expires and takes its keys along', T, async () => {
      const p = unique();
      const other = await h.open();
      const lease = await other.grantLease(1);
      await other.put(`${p}a`, '1', { lease: lease.id });
      await other.put(`${p}b`, '2', { lease: lease.id });
      assert.equal((await s.list(p)).kvs.length, 2);
      const from = (await s.revision()) + 1;
      await other.close(); // the process "dies": keep-alives stop, no revoke
      const ms = await waitFor('expiry', async () => (await s.list(p)).kvs.length === 0, 6000);
      assert.ok(ms >= 300, `keys vanished after ${ms} ms, before the TTL could run out`);
      const evs = await collect(s, p, 2, 3000, from);
      assert.deepEqual(evs.map((e) => `${e.type} ${e.key.slice(p.length)}`).sort(), ['delete a', 'delete b']);
      assert.equal(evs[0]?.modRevision, evs[1]?.modRevision, 'expiry deletes all keys of the lease in one revision');
    });

    it('leases: `lost` fires when the lease ends behind the holder\'s back', T, async () => {
      const p = unique();
      const lease = await s.grantLease(1);
      await s.put(`${p}k`, 'v', { lease: lease.id });
      await h.revokeElsewhere(lease.id);
      await waitFor('lost signal', async () => lease.lost.aborted, 3000);
      assert.equal(await s.get(`${p}k`), undefined);
      await lease.revoke(); // revoking a lost lease is harmless
    });

    it('close(): open watches end, later calls fail with E_UNAVAILABLE', T, async () => {
      const p = unique();
      const other = await h.open();
      const ac = new AbortController();
      const got: WatchEvent[] = [];
      const from = (await s.revision()) + 1;
      const loop = (async () => {
        for await (const ev of other.watch(p, { signal: ac.signal, fromRevision: from })) got.push(ev);
      })();
      await s.put(`${p}k`, 'v');
      await waitFor('event', async () => got.length === 1, 5000);
      await other.close();
      await Promise.race([loop, sleep(5000).then(() => assert.fail('watch did not end on close()'))]);
      ac.abort();
      await assert.rejects(other.get(`${p}k`), (e: unknown) => isLpmosError(e, 'E_UNAVAILABLE'));
      await assert.rejects(other.put(`${p}k`, 'w'), (e: unknown) => isLpmosError(e, 'E_UNAVAILABLE'));
      // A watch opened after close() fails too (one that just ended made a re-watching follower spin).
      await assert.rejects(
        (async () => {
          for await (const ev of other.watch(p, { signal: AbortSignal.timeout(5000), fromRevision: from })) got.push(ev);
        })(),
        (e: unknown) => isLpmosError(e, 'E_UNAVAILABLE'),
      );
      assert.equal((await s.get(`${p}k`))?.value, 'v', 'other clients are unaffected');
    });

    it('watch from a compacted revision fails with E_COMPACTED (runs last: compaction is global)', T, async () => {
      const p = unique();
      const r1 = await s.put(`${p}k`, '1');
      await s.put(`${p}k`, '2');
      const r3 = await s.put(`${p}k`, '3');
      await h.compact(r3);
      const kept = await collect(s, p, 1, 3000, r3);
      assert.deepEqual(kept, [{ type: 'put', key: `${p}k`, value: '3', modRevision: r3 }], 'the compaction revision itself is kept');
      await assert.rejects(collect(s, p, 1, 3000, r1), (e: unknown) => isLpmosError(e, 'E_COMPACTED'));
    });
  });
}
