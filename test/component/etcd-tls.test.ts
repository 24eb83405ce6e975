// openStore against an etcd that requires TLS client certificates and has auth enabled
// (root user with a password, set up with Debian's etcdctl). Right credentials work; each
// missing or wrong one fails with E_UNAVAILABLE saying what went wrong and where.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isLpmosError } from '../../core/errors.ts';
import { openStore, type OpenStoreOptions } from '../../store/connect.ts';
import { TestEtcd } from '../helpers/etcd.ts';

const PASSWORD = `pw-${process.pid}`;

function makeCerts(dir: string): void {
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=lpmos-test-ca');
  for (const [name, cn, ext] of [
    ['server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'],
    ['client', 'lpmos-client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
    ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  }
}

describe('etcd with TLS client certificates and auth', { timeout: 60_000 }, () => {
  let etcd: TestEtcd;
  let files: { caFile: string; certFile: string; keyFile: string };
  let good: OpenStoreOptions;

  before(async () => {
    // Certificates live next to the data dir, so stop() removes them too.
    etcd = await TestEtcd.start({ deferTls: true });
    makeCerts(etcd.dir);
    files = { caFile: join(etcd.dir, 'ca.crt'), certFile: join(etcd.dir, 'client.crt'), keyFile: join(etcd.dir, 'client.key') };
    await etcd.enableTls({ certFile: join(etcd.dir, 'server.crt'), keyFile: join(etcd.dir, 'server.key'), trustedCaFile: files.caFile, clientCertAuth: true });
    const ctl = (...args: string[]): string => execFileSync('etcdctl', [
      `--endpoints=${etcd.endpoints.join(',')}`, `--cacert=${files.caFile}`, `--cert=${files.certFile}`, `--key=${files.keyFile}`, ...args,
    ], { stdio: 'pipe', env: { ...process.env, ETCDCTL_API: '3' } }).toString();
    ctl('role', 'add', 'root');
    ctl('user', 'add', `root:${PASSWORD}`);
    ctl('user', 'grant-role', 'root', 'root');
    ctl('auth', 'enable');
    good = { endpoints: etcd.endpoints, tls: files, auth: { username: 'root', password: PASSWORD }, timeoutMs: 3000 };
  });
  after(async () => {
    await etcd?.stop();
  });

  it('works with CA, client certificate and password: put, get, watch', async () => {
    const store = await openStore(good);
    try {
      const rev = await store.put('/tls/k', 'secret');
      assert.equal((await store.get('/tls/k'))?.value, 'secret');
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(), 5000);
      for await (const ev of store.watch('/tls/', { signal: ac.signal, fromRevision: rev })) {
        assert.deepEqual(ev, { type: 'put', key: '/tls/k', value: 'secret', modRevision: rev });
        break;
      }
      clearTimeout(t);
      const lease = await store.grantLease(1);
      await lease.revoke();
    } finally {
      await store.close();
    }
  });

  it('watch, lease and calls survive an etcd restart (auth token refreshed)', { timeout: 30_000 }, async () => {
    const store = await openStore(good);
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), 20_000);
    try {
      const lease = await store.grantLease(4);
      await store.put('/restart/leased', 'x', { lease: lease.id });
      const from = (await store.put('/restart/a', 'before')) + 1;
      const seen: string[] = [];
      const watching = (async () => {
        for await (const ev of store.watch('/restart/', { signal: ac.signal, fromRevision: from })) {
          seen.push(`${ev.type} ${ev.key} ${ev.value ?? ''}`);
          if (seen.length === 2) break;
        }
      })();
      await etcd.kill();
      await etcd.restart(); // simple auth tokens do not survive this
      let r = 0;
      for (;;) {
        try {
          await store.put('/restart/b', 'after');
          break;
        } catch (e) {
          assert.ok(isLpmosError(e, 'E_UNAVAILABLE') && ++r < 50, String(e));
          await new Promise((res) => setTimeout(res, 100));
        }
      }
      await store.put('/restart/c', 'after');
      await watching;
      assert.deepEqual(seen, ['put /restart/b after', 'put /restart/c after']);
      // Longer than the TTL after the restart: only working keep-alives keep the key.
      await new Promise((res) => setTimeout(res, 4500));
      assert.equal(lease.lost.aborted, false);
      assert.equal((await store.get('/restart/leased'))?.value, 'x');
      await lease.revoke();
    } finally {
      clearTimeout(t);
      ac.abort();
      await store.close();
    }
  });

  const rejects = async (opts: OpenStoreOptions, why: RegExp): Promise<void> => {
    await assert.rejects(openStore(opts), (e: unknown) => {
      assert.ok(isLpmosError(e, 'E_UNAVAILABLE'), `expected E_UNAVAILABLE, got ${String(e)}`);
      assert.ok((e as Error).message.includes(etcd.endpoints[0] as string), `names the endpoint: ${(e as Error).message}`);
      assert.match((e as Error).message, why);
      return true;
    });
  };

  it('fails without a password: authentication error', async () => {
    await rejects({ endpoints: etcd.endpoints, tls: files, timeoutMs: 3000 }, /refused access|authentication|permission/i);
  });

  it('fails with a wrong password: authentication error', async () => {
    await rejects({ ...good, auth: { username: 'root', password: 'wrong' } }, /refused access \(authentication/);
  });

  it('fails without the client certificate', async () => {
    await rejects({ ...good, tls: { caFile: files.caFile } }, /unreachable|UNAVAILABLE|certificate|handshake/i);
  });

  it('fails when the server certificate is not trusted (no CA given)', async () => {
    await rejects({ ...good, tls: { certFile: files.certFile, keyFile: files.keyFile } }, /unreachable|certificate|self.signed|verify/i);
  });

  it('names a missing TLS file as a usage error', async () => {
    await assert.rejects(openStore({ ...good, tls: { ...files, caFile: '/nonexistent/ca.crt' } }),
      (e: unknown) => isLpmosError(e, 'E_USAGE') && (e as Error).message.includes('/nonexistent/ca.crt'));
    await assert.rejects(openStore({ ...good, tls: { caFile: files.caFile, certFile: files.certFile } }),
      (e: unknown) => isLpmosError(e, 'E_USAGE'));
  });
});
