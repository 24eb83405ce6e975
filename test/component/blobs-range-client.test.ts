// The fetcher's own Range client (swarm/blobs/range-client.ts) against real servers on loopback: the
// holder's HttpBlobServer (206 ranges, 404 for a missing piece, 503 at the upload cap, a 200 for the
// whole), keep-alive reuse, a kept-alive socket the server closed (sent again on a new one),
// abort, and a raw TCP server that misbehaves (wrong Content-Range, chunked, too long, early close).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../core/log.ts';
import { HttpBlobServer } from '../../swarm/blobs/http-server.ts';
import { manifestOf, pieceRange } from '../../swarm/blobs/manifest.ts';
import { MemoryPieceStore } from '../../swarm/blobs/memory-store.ts';
import { putPieces } from '../helpers/pieces.ts';
import { parseRange } from '../../swarm/blobs/http-range.ts';
import { PieceError } from '../../swarm/blobs/piece-error.ts';
import { GATHER_BYTES, RangeClient, parseHead, rangeStats } from '../../swarm/blobs/range-client.ts';
import { emptyStats } from '../../swarm/blobs/service.ts';
import { UploadLimiter } from '../../swarm/blobs/upload-limit.ts';

const PS = 64 * 1024;
const whole = randomBytes(40 * PS + 123);
const partial = randomBytes(4 * PS);
const mw = manifestOf(whole, PS);
const mp = manifestOf(partial, PS);
const store = new MemoryPieceStore({ budget: 64 * 1024 * 1024 });
const limiter = new UploadLimiter({ perPeer: 64, total: 64 });
const holder = new HttpBlobServer({ store, limiter, stats: emptyStats(), log: silentLogger() });
const client = new RangeClient({ maxSockets: 4 });
let base: string;
const servers: (Server | HttpServer)[] = [];

before(async () => {
  await putPieces(store, mw, whole);
  await putPieces(store, mp, partial, [0, 1, 3]);
  base = await holder.start('127.0.0.1');
});

after(async () => {
  client.close();
  await holder.stop();
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
});

const sig = (): AbortSignal => AbortSignal.timeout(10_000);

async function listen<T extends Server | HttpServer>(s: T): Promise<number> {
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as AddressInfo).port;
}

async function rejectsWith(p: Promise<unknown>, reason: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof PieceError && e.reason === reason);
}

test('parseHead reads the status and lower-cased headers, and refuses what is not HTTP/1.x', () => {
  const h = parseHead('HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\nContent-Range: bytes 0-4/9');
  assert.equal(h?.status, 206);
  assert.equal(h?.headers.get('content-length'), '5');
  assert.equal(h?.headers.get('content-range'), 'bytes 0-4/9');
  assert.equal(parseHead('HTTP/2 200'), undefined);
  assert.equal(parseHead('HTTP/1.1 200 OK\r\nno colon'), undefined);
});

test('every piece of a blob, 16 at once over at most 4 kept-alive connections, byte for byte', async () => {
  const before = { ...rangeStats };
  const parts = await Promise.all(
    mw.pieces.map((_, i) => {
      const r = pieceRange(mw, i);
      return client.get(`${base}/${mw.sha256}`, r.start, r.end, mw.size, sig());
    }),
  );
  assert.deepEqual(Buffer.concat(parts), whole);
  assert.equal(rangeStats.responses - before.responses, mw.pieces.length);
  assert.equal(rangeStats.bytes - before.bytes, mw.size);
  // Connections: a plain node:http range server that counts them.
  let conns = 0;
  const s = createHttpServer((req, res) => {
    const r = parseRange(req.headers.range, whole.length);
    if (!r || r === 'unsatisfiable') return void res.writeHead(416, { 'Content-Length': 0 }).end();
    res.writeHead(206, { 'Content-Length': r.end - r.start, 'Content-Range': `bytes ${r.start}-${r.end - 1}/${whole.length}` }).end(whole.subarray(r.start, r.end));
  });
  s.on('connection', () => conns++);
  const port = await listen(s);
  for (let round = 0; round < 3; round++) {
    const got = await Promise.all(Array.from({ length: 16 }, (_, i) => client.get(`http://127.0.0.1:${port}/w`, i * PS, (i + 1) * PS, whole.length, sig())));
    assert.deepEqual(Buffer.concat(got), whole.subarray(0, 16 * PS));
  }
  assert.equal(conns, 4);
});

test('a 200 for the whole, ranges inside a piece, 404 for a missing piece, 503 at the upload cap', async () => {
  assert.deepEqual(Buffer.from(await client.get(`${base}/${mp.sha256}`, 10, 20, mp.size, sig())), partial.subarray(10, 20));
  await rejectsWith(client.get(`${base}/${mp.sha256}`, 2 * PS, 3 * PS, mp.size, sig()), 'not-found');
  // The connection that answered 404 (empty body) is still usable.
  assert.deepEqual(Buffer.from(await client.get(`${base}/${mp.sha256}`, 3 * PS, 4 * PS, mp.size, sig())), partial.subarray(3 * PS));
  const busy = new HttpBlobServer({ store, limiter: new UploadLimiter({ perPeer: 0, total: 0 }), stats: emptyStats(), log: silentLogger() });
  const url = await busy.start('127.0.0.1');
  try {
    await rejectsWith(client.get(`${url}/${mw.sha256}`, 0, PS, mw.size, sig()), 'busy');
  } finally {
    await busy.stop();
  }
  // A 200 is the whole only when the whole was asked for.
  let n = 0;
  const port = await listen(
    createHttpServer((_req, res) => {
      n++;
      res.writeHead(200, { 'Content-Length': 10 }).end('0123456789');
    }),
  );
  assert.equal(Buffer.from(await client.get(`http://127.0.0.1:${port}/x`, 0, 10, 10, sig())).toString(), '0123456789');
  await rejectsWith(client.get(`http://127.0.0.1:${port}/x`, 0, 5, 10, sig()), 'failed');
  assert.equal(n, 2);
});

test('a kept-alive connection the server closed is replaced, the request sent again', async () => {
  // Answers the first request on a connection, and closes it unanswered at the second (as a server
  // whose keep-alive timeout ran out just as the request arrived).
  let conns = 0;
  let requests = 0;
  const port = await listen(
    createServer((c) => {
      conns++;
      let seen = 0;
      c.on('data', () => {
        requests++;
        if (seen++ === 0) c.write('HTTP/1.1 206 Partial Content\r\nContent-Length: 4\r\nContent-Range: bytes 0-3/8\r\n\r\nabcd');
        else c.destroy();
      });
    }),
  );
  const url = `http://127.0.0.1:${port}/y`;
  assert.equal(Buffer.from(await client.get(url, 0, 4, 8, sig())).toString(), 'abcd');
  assert.equal(Buffer.from(await client.get(url, 0, 4, 8, sig())).toString(), 'abcd');
  assert.deepEqual({ conns, requests }, { conns: 2, requests: 3 });
  // A fresh connection that fails is not retried.
  const dead = await listen(createServer((c) => c.on('data', () => c.destroy())));
  await rejectsWith(client.get(`http://127.0.0.1:${dead}/y`, 0, 4, 8, sig()), 'failed');
});

test('misbehaving servers: wrong Content-Range and length are bad bytes, chunked and early close fail', async () => {
  const answers: Record<string, string> = {
    '/range': 'HTTP/1.1 206 Partial Content\r\nContent-Length: 4\r\nContent-Range: bytes 4-7/8\r\n\r\nabcd',
    '/length': 'HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\nContent-Range: bytes 0-3/8\r\n\r\nabcde',
    '/chunked': 'HTTP/1.1 206 Partial Content\r\nTransfer-Encoding: chunked\r\nContent-Range: bytes 0-3/8\r\n\r\n4\r\nabcd\r\n0\r\n\r\n',
    '/short': 'HTTP/1.1 206 Partial Content\r\nContent-Length: 4\r\nContent-Range: bytes 0-3/8\r\n\r\nab',
    '/garbage': 'SSH-2.0-OpenSSH\r\n\r\n',
  };
  const port = await listen(
    createServer((c) => {
      c.once('data', (d) => {
        const path = /^GET (\S+)/.exec(d.toString())?.[1] ?? '';
        c.end(answers[path] ?? 'HTTP/1.1 500 x\r\nContent-Length: 0\r\n\r\n');
      });
    }),
  );
  const url = (p: string): string => `http://127.0.0.1:${port}${p}`;
  await rejectsWith(client.get(url('/range'), 0, 4, 8, sig()), 'bad-bytes');
  await rejectsWith(client.get(url('/length'), 0, 4, 8, sig()), 'bad-bytes');
  await rejectsWith(client.get(url('/chunked'), 0, 4, 8, sig()), 'failed');
  await rejectsWith(client.get(url('/short'), 0, 4, 8, sig()), 'failed');
  await rejectsWith(client.get(url('/garbage'), 0, 4, 8, sig()), 'failed');
});

test('abort: a stalled answer ends as a timeout, and the next request works', async () => {
  const held: Socket[] = [];
  const port = await listen(
    createServer((c) => {
      held.push(c);
      c.on('error', () => undefined);
      c.once('data', () => c.write('HTTP/1.1 206 Partial Content\r\nContent-Length: 4\r\nContent-Range: bytes 0-3/8\r\n\r\na'));
    }),
  );
  const t0 = Date.now();
  await rejectsWith(client.get(`http://127.0.0.1:${port}/z`, 0, 4, 8, AbortSignal.timeout(200)), 'timeout');
  assert.ok(Date.now() - t0 < 2000);
  for (const c of held) c.destroy();
  // Slots were released: more requests than maxSockets to the same origin still complete.
  const parts = await Promise.all(Array.from({ length: 10 }, (_, i) => client.get(`${base}/${mw.sha256}`, i * PS, (i + 1) * PS, mw.size, sig())));
  assert.deepEqual(Buffer.concat(parts), whole.subarray(0, 10 * PS));
});

test('a body that trickles in is read in gathered chunks (the socket of a slow flow waits GATHER_MS after a small read), byte for byte; a fast one is not held', async () => {
  const body = randomBytes(96 * 1024);
  const port = await listen(
    createServer((c) => {
      c.setNoDelay(true);
      c.once('data', () => {
        c.write(`HTTP/1.1 206 Partial Content\r\nContent-Length: ${body.length}\r\nContent-Range: bytes 0-${body.length - 1}/${body.length}\r\n\r\n`);
        // 1 KiB every 8 ms: ~800 ms, a flow of ~1 Mbit/s.
        let off = 0;
        const t = setInterval(() => {
          c.write(body.subarray(off, (off += 1024)));
          if (off >= body.length) clearInterval(t);
        }, 8);
      });
    }),
  );
  const before = { ...rangeStats };
  const got = await client.get(`http://127.0.0.1:${port}/slow`, 0, body.length, body.length, sig());
  assert.ok(Buffer.from(got).equals(body));
  const reads = rangeStats.chunks - before.chunks;
  assert.ok(rangeStats.gathered - before.gathered > 0, 'paused to gather');
  // Without gathering each 1 KiB write is a read of its own (96); with it about one per GATHER_MS.
  assert.ok(reads <= 30, `${reads} reads for 96 writes`);
  // A fast body (loopback, all at once) comes in large reads and completes without waiting on the tick.
  const fast = { ...rangeStats };
  const t0 = performance.now();
  const all = await client.get(`${base}/${mw.sha256}`, 0, 16 * PS, whole.length, sig());
  assert.ok(Buffer.from(all).equals(whole.subarray(0, 16 * PS)));
  assert.ok((rangeStats.bytes - fast.bytes) / (rangeStats.chunks - fast.chunks) > GATHER_BYTES, 'large reads');
  assert.ok(performance.now() - t0 < 1000);
});
