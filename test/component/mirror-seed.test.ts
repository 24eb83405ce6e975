// The mirror as the agents see it: through the seed's HTTP server, from an upstream on loopback.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keys } from '../../core/keys.ts';
import { silentLogger } from '../../core/log.ts';
import { startHttp } from '../../seed/http/server.ts';
import type { HttpServer } from '../../seed/http/server.ts';
import { MirrorCache } from '../../seed/mirror/cache.ts';
import { parseMirrorSetting } from '../../seed/mirror/setting.ts';
import { MemoryStore } from '../../store/memory.ts';
import { LpmosError } from '../../core/errors.ts';

const deb = Buffer.alloc(200_000, 7);
let upstream: Server;
let http: HttpServer;
let upstreamHits = 0;
const dir = mkdtempSync(join(tmpdir(), `lpmos-mirror-seed-${process.pid}-`));

describe('seed HTTP /mirror/', () => {
  before(async () => {
    upstream = createServer((req, res) => {
      upstreamHits++;
      if (req.url === '/debian/pool/main/x/x_1_amd64.deb') res.writeHead(200, { 'content-length': deb.length }).end(deb);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/debian`;
    const mirror = new MirrorCache({ dir, upstreams: parseMirrorSetting(base, []), logger: silentLogger() });
    http = await startHttp({ port: 0, address: '127.0.0.1' }, { logger: silentLogger(), store: new MemoryStore(), keys: new Keys(), site: 'default', prefix: '/lpmos/', etcdEndpoints: ['http://127.0.0.1:2379'], mirror });
  });
  after(async () => {
    await http?.stop();
    upstream.closeAllConnections();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a package once fetched, with Range; 404 and traversal refused', async () => {
    const url = `http://127.0.0.1:${http.port}/mirror/debian/pool/main/x/x_1_amd64.deb`;
    const a = await fetch(url);
    assert.equal(a.status, 200);
    assert.equal(a.headers.get('x-lpmos-cache'), 'miss');
    assert.deepEqual(Buffer.from(await a.arrayBuffer()), deb);
    const b = await fetch(url, { headers: { range: 'bytes=100-199' } });
    assert.equal(b.status, 206);
    assert.equal(b.headers.get('x-lpmos-cache'), 'hit');
    assert.deepEqual(Buffer.from(await b.arrayBuffer()), deb.subarray(100, 200));
    assert.equal(upstreamHits, 1);
    assert.equal((await fetch(`http://127.0.0.1:${http.port}/mirror/debian/pool/main/y/none.deb`)).status, 404);
    // The URL parser folds %2e%2e segments away before routing: what is left is no mirror file.
    assert.equal((await fetch(`http://127.0.0.1:${http.port}/mirror/debian/pool/%2e%2e/%2e%2e/etc/passwd`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${http.port}/mirror/debian/pool/a%5c..%5cb.deb`)).status, 422);
    assert.equal((await fetch(`http://127.0.0.1:${http.port}/mirror/nope/pool/a.deb`)).status, 404);
  });

  it('--mirror settings: auto from host sources, off, URL, name=URL; bad values name the flag', () => {
    assert.deepEqual(parseMirrorSetting('auto', [{ uri: 'http://deb.debian.org/debian/', suites: ['bookworm'], components: ['main'] }, { uri: 'http://deb.debian.org/debian-security', suites: ['bookworm-security'], components: ['main'] }]), { debian: 'http://deb.debian.org/debian', 'debian-security': 'http://deb.debian.org/debian-security' });
    assert.deepEqual(parseMirrorSetting('off', []), {});
    assert.deepEqual(parseMirrorSetting('ubuntu=http://archive.ubuntu.com/ubuntu,http://x/debian', []), { ubuntu: 'http://archive.ubuntu.com/ubuntu', debian: 'http://x/debian' });
    assert.throws(() => parseMirrorSetting('ftp://x/debian', []), (e: unknown) => e instanceof LpmosError && e.code === 'E_USAGE' && e.message.includes('--mirror'));
    assert.throws(() => parseMirrorSetting('not a url', []), (e: unknown) => e instanceof LpmosError && e.message.includes('--mirror'));
  });
});
