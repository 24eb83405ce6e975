// The seed's apt mirror cache against a real HTTP upstream on loopback (a stand-in archive the
// test serves): one upstream fetch per file however many ask, bytes identical, index revalidation,
// stale indexes served when the upstream is gone, traversal refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LpmosError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { MirrorCache } from '../../seed/mirror/cache.ts';
import { defaultUpstream, parseDeb822, parseOneLine } from '../../seed/mirror/sources.ts';

const files: Record<string, { body: Buffer; lastModified: string }> = {
  'dists/bookworm/InRelease': { body: Buffer.from('Origin: Debian\nSuite: stable\n'), lastModified: 'Sat, 01 Nov 2026 10:00:00 GMT' },
  'pool/main/h/hello/hello_2.10-3_amd64.deb': { body: randomBytes(3 * 2 ** 20), lastModified: 'Sat, 01 Nov 2026 10:00:00 GMT' },
};
const hits = new Map<string, number>();
let conditional = 0;
let server: Server;
let base: string;
const dir = mkdtempSync(join(tmpdir(), `lpmos-mirror-${process.pid}-`));

describe('mirror cache', () => {
  before(async () => {
    server = createServer((req, res) => {
      const path = (req.url ?? '').replace(/^\/debian\//, '');
      hits.set(path, (hits.get(path) ?? 0) + 1);
      const f = files[path];
      if (!f) return void res.writeHead(404).end();
      if (req.headers['if-modified-since'] === f.lastModified) {
        conditional++;
        return void res.writeHead(304).end();
      }
      // Slow enough that concurrent requests overlap.
      setTimeout(() => res.writeHead(200, { 'content-length': f.body.length, 'last-modified': f.lastModified }).end(f.body), 100);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fetches a pool file once for 10 concurrent requests, stores it by sha256, serves it after', async () => {
    const m = new MirrorCache({ dir, upstreams: { debian: base }, logger: silentLogger() });
    const path = 'pool/main/h/hello/hello_2.10-3_amd64.deb';
    const got = await Promise.all(Array.from({ length: 10 }, () => m.open('debian', path)));
    assert.equal(hits.get(path), 1);
    const want = createHash('sha256').update(files[path]!.body).digest('hex');
    for (const g of got) assert.equal(g.sha256, want);
    assert.ok(got[0]!.file.endsWith(want));
    assert.deepEqual(readFileSync(got[0]!.file), files[path]!.body);
    const again = await m.open('debian', path);
    assert.equal(again.source, 'hit');
    assert.equal(hits.get(path), 1);
    assert.equal(m.stats.upstreamBytes, files[path]!.body.length);
  });

  it('keeps index files as fetched and revalidates them when old', async () => {
    const m = new MirrorCache({ dir, upstreams: { debian: base }, logger: silentLogger(), indexMaxAgeSeconds: 0 });
    const a = await m.open('debian', 'dists/bookworm/InRelease');
    assert.deepEqual(readFileSync(a.file), files['dists/bookworm/InRelease']!.body);
    const b = await m.open('debian', 'dists/bookworm/InRelease');
    assert.equal(b.source, 'hit');
    assert.equal(conditional, 1, 'the second request asked If-Modified-Since and got 304');
    const fresh = new MirrorCache({ dir, upstreams: { debian: base }, logger: silentLogger(), indexMaxAgeSeconds: 3600 });
    const before = hits.get('dists/bookworm/InRelease');
    await fresh.open('debian', 'dists/bookworm/InRelease');
    assert.equal(hits.get('dists/bookworm/InRelease'), before, 'a young index is served without asking');
  });

  it('serves cached files with the upstream gone (air gap); 404 for what it never had', async () => {
    const m = new MirrorCache({ dir, upstreams: { debian: 'http://127.0.0.1:1/debian' }, logger: silentLogger(), indexMaxAgeSeconds: 0 });
    assert.equal((await m.open('debian', 'dists/bookworm/InRelease')).source, 'stale');
    assert.equal((await m.open('debian', 'pool/main/h/hello/hello_2.10-3_amd64.deb')).source, 'hit');
    await assert.rejects(m.open('debian', 'pool/main/n/nope/nope.deb'), (e: unknown) => e instanceof LpmosError && e.code === 'E_UNAVAILABLE');
    const offline = new MirrorCache({ dir, upstreams: {}, logger: silentLogger() });
    await assert.rejects(offline.open('debian', 'pool/main/n/nope/nope.deb'), (e: unknown) => e instanceof LpmosError && e.code === 'E_NOT_FOUND');
  });

  it('passes 404 on and refuses paths outside dists/ and pool/', async () => {
    const m = new MirrorCache({ dir, upstreams: { debian: base }, logger: silentLogger() });
    await assert.rejects(m.open('debian', 'pool/main/x/missing.deb'), (e: unknown) => e instanceof LpmosError && e.code === 'E_NOT_FOUND');
    for (const bad of ['../etc/passwd', 'pool/../../x', 'pool/%2e%2e/x', 'pool/a%00b', 'etc/passwd', '/pool//x', 'pool\\x']) {
      await assert.rejects(m.open('debian', bad), (e: unknown) => e instanceof LpmosError, bad);
    }
    await assert.rejects(m.open('../x', 'pool/a'), (e: unknown) => e instanceof LpmosError && e.code === 'E_NOT_FOUND');
  });

  it('finds the default upstream in the host apt sources (one-line and deb822)', () => {
    assert.equal(defaultUpstream(parseOneLine('deb [arch=amd64] http://deb.debian.org/debian/ bookworm main\n# deb http://x y z\n')), 'http://deb.debian.org/debian');
    const deb822 = 'Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n\nTypes: deb deb-src\nURIs: http://ftp.de.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n';
    assert.equal(defaultUpstream(parseDeb822(deb822)), 'http://ftp.de.debian.org/debian');
    assert.equal(defaultUpstream(parseDeb822('Types: deb\nEnabled: no\nURIs: http://a/debian\nSuites: x\n')), undefined);
  });
});
