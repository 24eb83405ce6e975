// The seed's HTTP artifacts on a loopback port, with Node's fetch, curl and raw requests: Range
// (first, middle, last byte, suffix, open end, unsatisfiable → 416), HEAD, ETag/If-None-Match/
// If-Range, by-hash URLs, traversal and encoded NULs, malformed HTTP, manifest reload, metrics.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isLpmosError } from '../../core/errors.ts';
import { ArtifactIndex } from '../../seed/http/artifacts.ts';
import { MemoryStore } from '../../store/memory.ts';
import { artifactDir, curl, rawRequest, testServer, writeManifest, type ArtifactFile, type TestServer } from './http-helpers.ts';

const SIZE = 3 * 1024 * 1024 + 17;
let dir: Awaited<ReturnType<typeof artifactDir>>;
let srv: TestServer;
let store: MemoryStore;
let big: ArtifactFile;

before(async () => {
  dir = await artifactDir({ 'vmlinuz': SIZE, 'initrd.img': 4096, 'empty.bin': 0 });
  await writeFile(join(dir.dir, 'secret.txt'), 'not listed in the manifest');
  big = dir.files.get('vmlinuz')!;
  store = new MemoryStore();
  srv = await testServer(store, { artifacts: [dir.dir] });
});

after(async () => {
  await srv?.stop();
  await store?.close();
  await dir?.cleanup();
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(srv.base + path, { method, headers });

test('GET: whole file with Content-Length, strong ETag = sha256, Last-Modified, Accept-Ranges', async () => {
  const r = await get('/artifacts/vmlinuz');
  assert.equal(r.status, 200);
  const body = Buffer.from(await r.arrayBuffer());
  assert.ok(body.equals(big.data));
  assert.equal(r.headers.get('content-length'), String(SIZE));
  assert.equal(r.headers.get('etag'), `"${big.sha256}"`);
  assert.equal(r.headers.get('accept-ranges'), 'bytes');
  assert.equal(r.headers.get('content-type'), 'application/octet-stream');
  assert.ok(Date.parse(r.headers.get('last-modified') ?? '') > 0);
  const empty = await get('/artifacts/empty.bin');
  assert.equal(empty.status, 200);
  assert.equal((await empty.arrayBuffer()).byteLength, 0);
});

test('Range: first, middle and last byte, suffix, open end, past the end', async () => {
  const cases: Array<[string, number, number]> = [
    ['bytes=0-0', 0, 0],
    [`bytes=${SIZE >> 1}-${(SIZE >> 1) + 999}`, SIZE >> 1, (SIZE >> 1) + 999],
    [`bytes=${SIZE - 1}-${SIZE - 1}`, SIZE - 1, SIZE - 1],
    ['bytes=-500', SIZE - 500, SIZE - 1],
    [`bytes=${SIZE - 10}-`, SIZE - 10, SIZE - 1],
    [`bytes=${SIZE - 5}-${SIZE + 100}`, SIZE - 5, SIZE - 1],
  ];
  for (const [range, start, end] of cases) {
    const r = await get('/artifacts/vmlinuz', { range });
    assert.equal(r.status, 206, range);
    assert.equal(r.headers.get('content-range'), `bytes ${start}-${end}/${SIZE}`, range);
    assert.equal(r.headers.get('content-length'), String(end - start + 1), range);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(big.data.subarray(start, end + 1)), range);
  }
});

test('Range: unsatisfiable → 416 with Content-Range */size; malformed or several ranges → whole file', async () => {
  for (const range of [`bytes=${SIZE}-`, `bytes=${SIZE + 10}-${SIZE + 20}`]) {
    const r = await get('/artifacts/vmlinuz', { range });
    assert.equal(r.status, 416, range);
    assert.equal(r.headers.get('content-range'), `bytes */${SIZE}`);
    assert.match(await r.text(), /range not satisfiable/);
  }
  for (const range of ['bytes=abc', 'items=0-5', 'bytes=0-1,10-11']) {
    const r = await get('/artifacts/initrd.img', { range });
    assert.equal(r.status, 200, range);
    assert.equal((await r.arrayBuffer()).byteLength, 4096, range);
  }
});

test('HEAD: the headers of GET, no body, also with Range', async () => {
  const r = await get('/artifacts/vmlinuz', {}, 'HEAD');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-length'), String(SIZE));
  assert.equal(r.headers.get('etag'), `"${big.sha256}"`);
  assert.equal((await r.arrayBuffer()).byteLength, 0);
  const ranged = await get('/artifacts/vmlinuz', { range: 'bytes=10-19' }, 'HEAD');
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers.get('content-length'), '10');
});

test('ETag: If-None-Match → 304 (strong and weak forms, lists), other tags → 200; If-Range', async () => {
  // With curl: fetch adds `Cache-Control: no-cache` to conditional requests (Fetch standard, HTTP-network-
  // or-cache fetch), which `send` honours as "reload" and answers 200 — correct, but not what boot clients send.
  for (const inm of [`"${big.sha256}"`, `W/"${big.sha256}"`, `"other", "${big.sha256}"`, '*']) {
    const r = await curl(['-H', `If-None-Match: ${inm}`, '-o', '-', '-w', '%{http_code}', srv.base + '/artifacts/vmlinuz']);
    assert.equal(r.stdout.toString(), '304', inm);
  }
  const reload = await get('/artifacts/vmlinuz', { 'if-none-match': `"${big.sha256}"`, 'cache-control': 'no-cache' });
  assert.equal(reload.status, 200, 'a reload asked for with no-cache gets the body');
  await reload.arrayBuffer();
  const fetched = await get('/artifacts/vmlinuz', { 'if-none-match': `"${big.sha256}"`, 'cache-control': 'max-age=0' });
  assert.equal(fetched.status, 304);
  const r = await get('/artifacts/vmlinuz', { 'if-none-match': '"0000"' });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  const fresh = await get('/artifacts/vmlinuz', { range: 'bytes=0-9', 'if-range': `"${big.sha256}"` });
  assert.equal(fresh.status, 206);
  await fresh.arrayBuffer();
  const stale = await get('/artifacts/vmlinuz', { range: 'bytes=0-9', 'if-range': '"changed"' });
  assert.equal(stale.status, 200, 'a stale If-Range gets the whole (new) file');
  assert.equal((await stale.arrayBuffer()).byteLength, SIZE);
  const pre = await get('/artifacts/vmlinuz', { 'if-match': '"changed"' });
  assert.equal(pre.status, 412);
  await pre.arrayBuffer();
});

test('by sha256: same bytes, cacheable for good; unknown hash 404', async () => {
  const r = await get(`/artifacts/sha256/${big.sha256.toUpperCase()}`);
  assert.equal(r.status, 200);
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(big.data));
  assert.match(r.headers.get('cache-control') ?? '', /immutable/);
  assert.match(r.headers.get('cache-control') ?? '', /max-age=31536000/);
  const missing = await get(`/artifacts/sha256/${'0'.repeat(64)}`);
  assert.equal(missing.status, 404);
  assert.match(await missing.text(), /E_NOT_FOUND: no artifact with sha256 0{64}/);
});

test('curl: ranged downloads and a whole file match the source; HEAD with -I', async () => {
  const whole = await curl(['--fail', srv.base + '/artifacts/vmlinuz']);
  assert.equal(whole.code, 0, whole.stderr);
  assert.equal(createHash('sha256').update(whole.stdout).digest('hex'), big.sha256);
  const part = await curl(['--fail', '-r', '100-199', '-w', '%{http_code}', '-o', '-', srv.base + '/artifacts/vmlinuz']);
  assert.equal(part.code, 0, part.stderr);
  assert.ok(part.stdout.subarray(0, 100).equals(big.data.subarray(100, 200)));
  assert.equal(part.stdout.subarray(100).toString(), '206');
  const head = await curl(['-I', srv.base + '/artifacts/initrd.img']);
  assert.match(head.stdout.toString(), /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(head.stdout.toString(), /content-length: 4096\r\n/i);
  const unsat = await curl(['-r', `${SIZE}-`, '-o', '/dev/null', '-w', '%{http_code}', srv.base + '/artifacts/vmlinuz']);
  assert.equal(unsat.stdout.toString(), '416');
});

test('traversal and encoded NULs: 404 or 400, never a file outside the manifest', async () => {
  const cases: Array<[string, number]> = [
    ['/artifacts/..%2fmanifest.json', 404],
    ['/artifacts/..%2f..%2f..%2fetc%2fpasswd', 404],
    ['/artifacts/%2e%2e%2fsecret.txt', 404],
    ['/artifacts/secret.txt', 404], // in the directory, not in the manifest
    ['/artifacts/manifest.json', 404],
    ['/artifacts/vmlinuz%00', 400],
    ['/artifacts/%00', 400],
    ['/artifacts/vmlinuz%00.txt', 400],
    ['/artifacts/%0a', 400],
    ['/artifacts/%zz', 400],
    ['/artifacts/sha256/..%2f..%2fvmlinuz', 404],
  ];
  for (const [path, status] of cases) {
    const r = await curl(['--path-as-is', '-o', '-', '-w', '\n%{http_code}', srv.base + path]);
    const [body, code] = [r.stdout.toString().split('\n').slice(0, -1).join('\n'), r.stdout.toString().split('\n').at(-1)];
    assert.equal(code, String(status), `${path}: ${body}`);
    assert.ok(!body.includes('not listed') && !body.includes('root:'), path);
  }
  // Raw, unnormalised dot segments: URL parsing removes them, so they leave /artifacts/ altogether.
  const raw = await rawRequest(srv.server.port, 'GET /artifacts/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 404 /);
  assert.ok(!raw.includes('root:'));
});

test('malformed HTTP and other methods: answered, counted, and the server goes on', async () => {
  const bad = await rawRequest(srv.server.port, 'THIS IS NOT HTTP\r\n\r\n');
  assert.match(bad, /^HTTP\/1\.1 400 Bad Request/);
  const nul = await rawRequest(srv.server.port, Buffer.from('GET /artifacts/vm\u0000linuz HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1'));
  assert.match(nul, /^HTTP\/1\.1 400 /);
  const post = await fetch(srv.base + '/artifacts/vmlinuz', { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  await post.arrayBuffer();
  const health = await get('/healthz');
  assert.equal(health.status, 200);
  assert.equal(await health.text(), 'ok\n');
});

test('a rewritten manifest is picked up without a restart; a file changed behind it is refused at load', async () => {
  const extra = randomBytes(1000);
  await writeFile(join(dir.dir, 'new.bin'), extra);
  const added: ArtifactFile = { name: 'new.bin', data: extra, sha256: createHash('sha256').update(extra).digest('hex') };
  await new Promise((r) => setTimeout(r, 20)); // a different mtime
  await writeManifest(dir.dir, [...dir.files.values(), added]);
  const r = await get('/artifacts/new.bin');
  assert.equal(r.status, 200);
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(extra));
  // A fresh index over a directory whose file does not match its manifest fails, naming the file.
  const { dir: d2, cleanup } = await artifactDir({ 'a.bin': 10 });
  try {
    await writeFile(join(d2, 'a.bin'), 'eleven byte');
    await assert.rejects(new ArtifactIndex([d2]).load(), (e: unknown) => isLpmosError(e, 'E_VALIDATION') && /"a.bin" has 11 bytes, the manifest says 10/.test(e.message));
    await symlink('/etc/hostname', join(d2, 'link'));
    await writeFile(join(d2, 'manifest.json'), JSON.stringify({ files: [{ name: 'link', sha256: '0'.repeat(64), size: 1 }] }));
    await assert.rejects(new ArtifactIndex([d2]).load(), /points outside/);
    await writeFile(join(d2, 'manifest.json'), JSON.stringify({ files: [{ name: '../x', sha256: '0'.repeat(64), size: 1 }] }));
    await assert.rejects(new ArtifactIndex([d2]).load(), /not a safe relative name/);
    // The manifest `lpmos boot ramdisk` writes: { kind: 'lpmos-agent-ramdisk', kernel, initrd }.
    const k = randomBytes(64);
    const i = randomBytes(96);
    await writeFile(join(d2, 'vmlinuz'), k);
    await writeFile(join(d2, 'initrd.img'), i);
    const entry = (file: string, b: Buffer) => ({ file, sha256: createHash('sha256').update(b).digest('hex'), size: b.length });
    await writeFile(join(d2, 'manifest.json'), JSON.stringify({ kind: 'lpmos-agent-ramdisk', kernel: { ...entry('vmlinuz', k), release: 'x' }, initrd: { ...entry('initrd.img', i), compression: 'zstd' } }));
    const ramdisk = new ArtifactIndex([d2]);
    await ramdisk.load();
    assert.equal(ramdisk.byName('initrd.img')?.size, 96);
    assert.equal(ramdisk.bySha256(entry('vmlinuz', k).sha256)?.name, 'vmlinuz');
    await writeFile(join(d2, 'manifest.json'), '{not json');
    await assert.rejects(new ArtifactIndex([d2]).load(), (e: unknown) => isLpmosError(e, 'E_PARSE'));
    await assert.rejects(new ArtifactIndex([join(tmpdir(), `lpm-http-none-${process.pid}`)]).load(), (e: unknown) => isLpmosError(e, 'E_VALIDATION'));
  } finally {
    await cleanup();
  }
});

test('metrics count requests by route and status and the bytes sent; one access-log line per request', async () => {
  const before = srv.server.metrics.bytes('artifacts');
  const r = await get('/artifacts/vmlinuz', { range: 'bytes=0-1023' });
  await r.arrayBuffer();
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(srv.server.metrics.bytes('artifacts') - before, 1024);
  const text = await (await get('/metrics')).text();
  assert.match(text, /^lpmos_http_requests_total\{route="artifacts",status="206"\} \d+$/m);
  assert.match(text, /^lpmos_http_requests_total\{route="artifacts",status="416"\} \d+$/m);
  assert.match(text, /^lpmos_http_requests_total\{route="bad_request",status="400"\} \d+$/m);
  assert.match(text, /^lpmos_http_sent_bytes_total\{route="artifacts"\} \d+$/m);
  const line = srv.log.filter((l) => l.msg === 'http request' && l.range === 'bytes=0-1023').at(-1);
  assert.ok(line, 'access log line');
  assert.equal(line.status, 206);
  assert.equal(line.bytes, 1024);
  assert.equal(line.route, 'artifacts');
  assert.equal(line.method, 'GET');
  assert.equal(typeof line.ms, 'number');
  const manifestText = await readFile(join(dir.dir, 'manifest.json'), 'utf8');
  assert.ok(manifestText.includes('vmlinuz'));
});
