// agent/resumable-get.ts against a real HTTP server that misbehaves the way a busy link does: the first
// response is cut off mid-body (socket destroyed), the next asks for the rest with Range and gets it;
// the bytes come out whole and in order. A server that only fails is given up on after `tries`, with
// E_UNAVAILABLE naming the URL and how far it got; a server that sends more than announced is refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LpmosError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { resumableGet } from '../../agent/resumable-get.ts';

const data = randomBytes(5 * 1024 * 1024 + 123);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
let server: Server;
let base = '';
const requests: { path: string; range?: string }[] = [];

before(async () => {
  server = createServer((req, res) => {
    requests.push({ path: req.url ?? '', ...(req.headers.range ? { range: req.headers.range } : {}) });
    if (req.url === '/fail') {
      res.writeHead(500).end('no');
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = m ? Number(m[1]) : 0;
    const body = req.url === '/more' ? Buffer.concat([data, Buffer.alloc(10)]) : data.subarray(from);
    res.writeHead(m ? 206 : 200, { 'Content-Length': String(body.length), ...(m ? { 'Content-Range': `bytes ${from}-${data.length - 1}/${data.length}` } : {}) });
    if (req.url === '/cut' && !m) {
      // The first answer breaks off after ≈ 1 MiB.
      res.write(body.subarray(0, 1024 * 1024), () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

async function collect(path: string, tries = 5): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of resumableGet({ url: `${base}${path}`, size: data.length, signal: AbortSignal.timeout(30_000), log: silentLogger(), tries, backoffMs: 10 })) parts.push(c);
  return Buffer.concat(parts);
}

describe('resumable HTTP download', () => {
  it('a body cut off mid-way continues with Range from the byte it stopped at; the whole is intact', async () => {
    requests.length = 0;
    const got = await collect('/cut');
    assert.equal(got.length, data.length);
    assert.equal(sha(got), sha(data));
    assert.equal(requests.length, 2, JSON.stringify(requests));
    const from = Number(/^bytes=(\d+)-$/.exec(requests[1]?.range ?? '')?.[1]);
    assert.ok(from >= 1024 * 1024 && from < data.length, `resumed from ${from}`);
  });
  it('gives up after `tries` failures in a row, naming the URL and the bytes received', async () => {
    requests.length = 0;
    await assert.rejects(collect('/fail', 3), (e: unknown) => {
      assert.ok(e instanceof LpmosError && e.code === 'E_UNAVAILABLE', String(e));
      assert.match(e.message, /\/fail: .*HTTP 500.*after 0 of \d+ bytes; 3 tries/);
      return true;
    });
    assert.equal(requests.length, 3);
  });
  it('refuses a body longer than announced (E_VALIDATION), without retrying', async () => {
    requests.length = 0;
    await assert.rejects(collect('/more'), (e: unknown) => e instanceof LpmosError && e.code === 'E_VALIDATION' && /more than the \d+ bytes expected/.test(e.message));
    assert.equal(requests.length, 1);
  });
});
