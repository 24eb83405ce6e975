// prefetchPackages against a real HTTP server on loopback: every file is fetched once, at most
// `concurrency` at a time, failures are counted and left to debootstrap, and an abort stops it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { prefetchPackages } from '../../installers/debian/prefetch.ts';

describe('fetching package files ahead of debootstrap', () => {
  const seen: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let server: Server;
  let mirror: string;
  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      void sleep(20).then(() => {
        inFlight--;
        if (req.url?.includes('missing')) res.writeHead(404).end();
        else res.writeHead(200).end(Buffer.alloc(1000 + seen.length));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror/debian/`;
  });
  after(() => server.close());

  it('fetches every file once, at most 3 at a time; a 404 is counted, not fatal', async () => {
    seen.length = 0;
    const files = Array.from({ length: 12 }, (_, i) => `pool/main/p/p${i}/p${i}_1_amd64.deb`).concat('pool/main/m/missing_1_all.deb');
    const progress: number[] = [];
    const r = await prefetchPackages({ mirror, files, concurrency: 3, signal: AbortSignal.timeout(10_000), onProgress: (done) => progress.push(done) });
    assert.deepEqual([...seen].sort(), files.map((f) => `/mirror/debian/${f}`).sort());
    assert.equal(maxInFlight, 3);
    assert.equal(r.fetched, 12);
    assert.equal(r.failed, 1);
    assert.ok(r.bytes >= 12 * 1000, `${r.bytes} bytes`);
    assert.deepEqual(progress, Array.from({ length: 13 }, (_, i) => i + 1));
  });

  it('an abort stops it with the abort\'s reason', async () => {
    const ac = new AbortController();
    const files = Array.from({ length: 50 }, (_, i) => `pool/main/q/q${i}.deb`);
    setTimeout(() => ac.abort(new Error('stop')), 50);
    await assert.rejects(prefetchPackages({ mirror, files, concurrency: 2, signal: ac.signal }), /stop/);
  });
});
