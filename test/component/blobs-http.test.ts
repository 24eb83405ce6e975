// The holder's HTTP piece server on a loopback port, with Node's fetch and curl: the whole of a
// complete blob (200, what iPXE gets after the seed's redirect), one Range of present pieces (206),
// a range over a missing piece (404), past the end (416), HEAD, unknown blob and method, and the
// upload cap (503 + Retry-After) while a slow client holds the only slot.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../core/log.ts';
import { HttpBlobServer } from '../../swarm/blobs/http-server.ts';
import { manifestOf } from '../../swarm/blobs/manifest.ts';
import { MemoryPieceStore } from '../../swarm/blobs/memory-store.ts';
import { putPieces } from '../helpers/pieces.ts';
import { emptyStats } from '../../swarm/blobs/service.ts';
import { UploadLimiter } from '../../swarm/blobs/upload-limit.ts';

const PS = 64 * 1024;
const whole = randomBytes(5 * PS + 99);
const partial = randomBytes(4 * PS);
const mw = manifestOf(whole, PS);
const mp = manifestOf(partial, PS);
const store = new MemoryPieceStore({ budget: 64 * 1024 * 1024 });
const stats = emptyStats();
const server = new HttpBlobServer({ store, limiter: new UploadLimiter({ perPeer: 1, total: 1 }), stats, log: silentLogger() });
let base: string;

before(async () => {
  await putPieces(store, mw, whole);
  await putPieces(store, mp, partial, [0, 1, 3]);
  base = await server.start('127.0.0.1');
});

after(async () => {
  await server.stop();
});

test('a complete blob whole (200) and by range (206); a partial one only where its pieces are', async () => {
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/blobs$/);
  const r = await fetch(`${base}/${mw.sha256}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('etag'), `"${mw.sha256}"`);
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(whole));
  const r2 = await fetch(`${base}/${mw.sha256}`, { headers: { Range: `bytes=${PS - 10}-${2 * PS + 9}` } });
  assert.equal(r2.status, 206);
  assert.equal(r2.headers.get('content-range'), `bytes ${PS - 10}-${2 * PS + 9}/${whole.length}`);
  assert.ok(Buffer.from(await r2.arrayBuffer()).equals(whole.subarray(PS - 10, 2 * PS + 10)));
  const p = await fetch(`${base}/${mp.sha256}`, { headers: { Range: `bytes=${PS}-${2 * PS - 1}` } });
  assert.equal(p.status, 206);
  assert.ok(Buffer.from(await p.arrayBuffer()).equals(partial.subarray(PS, 2 * PS)));
  assert.equal((await fetch(`${base}/${mp.sha256}`, { headers: { Range: `bytes=${PS}-${3 * PS - 1}` } })).status, 404, 'piece 2 is missing');
  assert.equal((await fetch(`${base}/${mp.sha256}`)).status, 404, 'not complete');
  const past = await fetch(`${base}/${mw.sha256}`, { headers: { Range: `bytes=${whole.length}-` } });
  assert.equal(past.status, 416);
  assert.equal(past.headers.get('content-range'), `bytes */${whole.length}`);
  const head = await fetch(`${base}/${mw.sha256}`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(whole.length));
  assert.equal((await fetch(`${base}/${'0'.repeat(64)}`)).status, 404);
  assert.equal((await fetch(`${base}/../etc/passwd`)).status, 404);
  assert.equal((await fetch(`${base}/${mw.sha256}`, { method: 'DELETE' })).status, 405);
});

test('curl (as a booting machine would fetch) gets the whole blob', async () => {
  const out = await new Promise<Buffer>((resolve, reject) =>
    execFile('curl', ['--silent', '--fail', `${base}/${mw.sha256}`], { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 }, (e, stdout) => (e ? reject(e) : resolve(stdout))),
  );
  assert.ok(out.equals(whole));
});

test('over the upload cap: 503 with Retry-After while a slow client holds the slot', async () => {
  // A big blob and a client that reads nothing: the response cannot finish, the slot stays taken.
  const big = randomBytes(32 * 1024 * 1024);
  const mb = manifestOf(big, 1024 * 1024);
  await store.open(mb);
  for (let i = 0; i < mb.pieces.length; i++) await store.putPiece(mb.sha256, i, big.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
  const slow = request(`${base}/${mb.sha256}`);
  const res = await new Promise<IncomingMessage>((resolve) => slow.on('response', resolve).end());
  res.pause();
  const refused = await fetch(`${base}/${mw.sha256}`);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '1');
  assert.ok(stats.uploadsRefused >= 1);
  slow.destroy();
  res.destroy();
  // The slot comes back once the slow client is gone.
  let ok = 0;
  for (let i = 0; i < 50 && ok !== 200; i++) {
    ok = (await fetch(`${base}/${mw.sha256}`)).status;
    if (ok !== 200) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(ok, 200);
});
