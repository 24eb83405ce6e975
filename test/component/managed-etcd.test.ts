// The seed's supervised etcd: restarts after a crash, keeps data and ports across stop/start,
// escalates SIGTERM → SIGKILL, and never leaves a child behind on failure or abort.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isLpmosError } from '../../core/errors.ts';
import { openStore } from '../../store/connect.ts';
import { ManagedEtcd } from '../../store/managed-etcd.ts';
import { freePort } from '../../store/ports.ts';
import { fastTempBase } from '../helpers/etcd.ts';
import { pidAlive } from '../../lab/process.ts';

const dirs: string[] = [];
const running: ManagedEtcd[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(fastTempBase(), `lpmos-managed-${process.pid}-`));
  dirs.push(d);
  return d;
}
function managed(stateDir: string, extra: Partial<ConstructorParameters<typeof ManagedEtcd>[0]> = {}): ManagedEtcd {
  const m = new ManagedEtcd({ stateDir, restartBackoffMs: { min: 100, max: 1000 }, stopGraceMs: 3000, ...extra });
  running.push(m);
  return m;
}
after(async () => {
  for (const m of running) await m.stop().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('managed etcd', () => {
  it('restarts etcd after SIGKILL; the store works again; data and ports survive stop/start', { timeout: 60_000 }, async () => {
    const state = tempDir();
    const m = managed(state);
    await m.start();
    const urls = m.clientUrls;
    assert.match(urls[0] as string, /^http:\/\/127\.0\.0\.1:\d+$/);
    const ports = JSON.parse(readFileSync(join(state, 'etcd', 'ports.json'), 'utf8')) as { client: number; peer: number };
    assert.equal(`http://127.0.0.1:${ports.client}`, urls[0]);
    assert.ok(statSync(join(state, 'etcd', 'data')).isDirectory());
    assert.ok(statSync(join(state, 'etcd', 'etcd.log')).size > 0, 'etcd writes its own log');

    const store = await openStore({ endpoints: urls, timeoutMs: 2000 });
    try {
      await store.put('/m/a', 'before crash');
      const pid1 = m.pid as number;
      process.kill(pid1, 'SIGKILL');
      await waitUntil(() => !pidAlive(pid1), 5000);
      await m.waitHealthy(20_000);
      assert.equal(m.restarts, 1);
      assert.notEqual(m.pid, pid1);
      assert.deepEqual(m.clientUrls, urls, 'restarted on the same port');
      // The same client reconnects by itself.
      assert.equal((await retryUnavailable(() => store.get('/m/a')))?.value, 'before crash');
      await store.put('/m/b', 'after crash');
    } finally {
      await store.close();
    }

    const pid2 = m.pid as number;
    await m.stop();
    assert.equal(pidAlive(pid2), false, 'stop() ends the child');

    const again = managed(state);
    await again.start();
    assert.deepEqual(again.clientUrls, urls, 'ports reused from ports.json');
    const s2 = await openStore({ endpoints: again.clientUrls });
    try {
      assert.deepEqual((await s2.list('/m/')).kvs.map((kv) => kv.value), ['before crash', 'after crash']);
    } finally {
      await s2.close();
      await again.stop();
    }
  });

  it('picks a new client port when the saved one is taken, keeping the data; serves an extra client URL', { timeout: 30_000 }, async () => {
    const state = tempDir();
    const m = managed(state);
    await m.start();
    const old = m.ports?.client as number;
    const s = await openStore({ endpoints: m.clientUrls });
    await s.put('/p/k', 'v');
    await s.close();
    await m.stop();
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(old, '127.0.0.1', r));
    try {
      // Also listen on an extra address (as on the provisioning network); 127.0.0.2 is loopback too.
      const extra = `http://127.0.0.2:${await freePort('127.0.0.2')}`;
      const m2 = managed(state, { extraClientUrls: [extra] });
      await m2.start();
      assert.notEqual(m2.ports?.client, old);
      const s2 = await openStore({ endpoints: m2.clientUrls });
      assert.equal((await s2.get('/p/k'))?.value, 'v');
      await s2.close();
      const s3 = await openStore({ endpoints: [extra] });
      assert.equal((await s3.get('/p/k'))?.value, 'v');
      await s3.close();
      await m2.stop();
    } finally {
      squatter.close();
    }
  });

  it('stop() escalates to SIGKILL when etcd ignores SIGTERM', { timeout: 20_000 }, async () => {
    const state = tempDir();
    // Stands in for a hung etcd: ignores SIGTERM (the ignore survives exec) and never gets healthy.
    const bin = join(state, 'stubborn.sh');
    writeFileSync(bin, "#!/bin/sh\ntrap '' TERM\nexec sleep 60\n");
    chmodSync(bin, 0o755);
    const m = managed(state, { binary: bin, startTimeoutMs: 60_000, stopGraceMs: 400 });
    const ac = new AbortController();
    const starting = m.start(ac.signal);
    await waitUntil(() => m.pid !== undefined, 5000);
    const pid = m.pid as number;
    const t0 = Date.now();
    ac.abort();
    await assert.rejects(starting, (e: unknown) => (e as Error).name === 'AbortError');
    assert.equal(pidAlive(pid), false, 'aborted start leaves no child');
    assert.ok(Date.now() - t0 < 2000);
    // Now a plain stop() on a started-but-stubborn child: SIGTERM is ignored, SIGKILL after 400 ms.
    const m2 = managed(state, { binary: bin, startTimeoutMs: 300, stopGraceMs: 400 });
    const t1 = Date.now();
    await assert.rejects(m2.start(), (e: unknown) => isLpmosError(e, 'E_UNAVAILABLE'));
    const took = Date.now() - t1;
    assert.ok(took >= 300 + 400 - 50, `start failure waited the grace before SIGKILL (${took} ms)`);
    assert.equal(m2.pid, undefined);
  });

  it('an etcd that exits at start-up fails start() with its log tail; a missing binary is named', { timeout: 20_000 }, async () => {
    const state = tempDir();
    const bin = join(state, 'broken.sh');
    writeFileSync(bin, '#!/bin/sh\necho "simulated: member has already been bootstrapped" >&2\nexit 1\n');
    chmodSync(bin, 0o755);
    const m = managed(state, { binary: bin });
    await assert.rejects(m.start(), (e: unknown) => {
      assert.ok(isLpmosError(e, 'E_UNAVAILABLE'));
      assert.match((e as Error).message, /simulated: member has already been bootstrapped/);
      return true;
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(m.restarts, 0, 'no supervisor restarts after a failed start');
    const missing = managed(state, { binary: join(state, 'no-such-etcd') });
    await assert.rejects(missing.start(), (e: unknown) => isLpmosError(e, 'E_UNAVAILABLE') && /no-such-etcd.*ENOENT/.test((e as Error).message));
  });
});

async function waitUntil(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function retryUnavailable<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!isLpmosError(e, 'E_UNAVAILABLE') || i > 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
