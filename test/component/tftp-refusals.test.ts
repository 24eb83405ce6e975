// Every confinement / read-only / robustness case of the seed's TFTP server, each on its own,
// through a raw UDP client on loopback (real clients normalise "../" away before sending).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, silentLogger } from '../../core/log.ts';
import { encodeAck, encodeRequest, TftpErrorCode, type Packet } from '../../seed/tftp/packet.ts';
import { startTftp, type TftpServer } from '../../seed/tftp/server.ts';
import { RawClient, tempDir } from './tftp-helpers.ts';

let tmp: { dir: string; cleanup: () => Promise<void> };
let root: string;
let server: TftpServer;
/** Same settings on the event-loop engine (session.ts); `server` runs the worker engine for files of the root. */
let loopServer: TftpServer;
const logLines: Record<string, unknown>[] = [];

before(async () => {
  tmp = await tempDir('refusals');
  root = join(tmp.dir, 'root');
  const outside = join(tmp.dir, 'outside');
  await mkdir(join(root, 'pxelinux.cfg'), { recursive: true });
  await mkdir(join(root, 'sub'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'SECRET\n');
  await writeFile(join(root, 'hello.txt'), 'hello\nworld\n');
  await writeFile(join(root, 'pxelinux.cfg', '01-52-54-00-12-34-56'), 'DEFAULT local\n');
  await writeFile(join(root, 'big'), Buffer.alloc(3 * 512 + 100, 7));
  await symlink(join(outside, 'secret'), join(root, 'evil-abs'));
  await symlink('../outside/secret', join(root, 'evil-rel'));
  await symlink(outside, join(root, 'evil-dir'));
  await symlink('hello.txt', join(root, 'sub', 'inside-link-target'));
  await symlink('../hello.txt', join(root, 'sub', 'inside'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  server = await startTftp(
    { root, address: '127.0.0.1', port: 0, maxTransfers: 2, timeoutMs: 100, retries: 3, deadlineMs: 60_000 },
    { log: createLogger({ format: 'json', level: 'info', destination: sink }) },
  );
  loopServer = await startTftp({ root, address: '127.0.0.1', port: 0, maxTransfers: 2, timeoutMs: 100, retries: 3, engine: 'loop' }, { log: silentLogger() });
});

after(async () => {
  await server?.stop();
  await loopServer?.stop();
  await tmp?.cleanup();
});

/** Sends one request and returns the first reply. */
async function ask(req: Buffer): Promise<Packet> {
  const c = await new RawClient().open();
  try {
    await c.send(req, server.port);
    const first = (await c.waitFor(1)).packet;
    if (first.op === 'data' || first.op === 'oack') await c.send(Buffer.from([0, 5, 0, 0, 0]), (c.received[0]!).port); // end politely
    return first;
  } finally {
    c.close();
  }
}

const rrq = (name: string): Buffer => encodeRequest('rrq', name, 'octet');

async function refused(name: string | Buffer, code: number): Promise<void> {
  const p = await ask(typeof name === 'string' ? rrq(name) : name);
  assert.equal(p.op, "error", `expected an ERROR for ${String(name)}, got ${p.op}`);
  assert.equal(p.op === 'error' && p.code, code);
}

describe('tftp refusals', () => {
  test('serves a plain file (the control case)', async () => {
    const p = await ask(rrq('hello.txt'));
    assert.equal(p.op, 'data');
    assert.equal(p.op === 'data' && p.data.toString(), 'hello\nworld\n');
  });

  test('"../" traversal is refused with access violation', () => refused('../outside/secret', TftpErrorCode.AccessViolation));
  test('traversal in the middle of a path is refused', () => refused('sub/../../outside/secret', TftpErrorCode.AccessViolation));
  test('an absolute path is refused', () => refused('/etc/passwd', TftpErrorCode.AccessViolation));
  test('backslash traversal is refused after normalisation', () => refused('..\\outside\\secret', TftpErrorCode.AccessViolation));
  test('a NUL byte in the file name is refused', () => refused(Buffer.from('\x00\x01hello.txt\x00../outside/secret\x00octet\x00', 'latin1'), TftpErrorCode.AccessViolation));
  test('a symlink to a file outside the root (absolute target) is refused', () => refused('evil-abs', TftpErrorCode.AccessViolation));
  test('a symlink to a file outside the root (relative target) is refused', () => refused('evil-rel', TftpErrorCode.AccessViolation));
  test('a path through a symlinked directory outside the root is refused', () => refused('evil-dir/secret', TftpErrorCode.AccessViolation));
  test('a missing file is "file not found"', () => refused('nope.bin', TftpErrorCode.FileNotFound));
  test('a directory is "file not found"', () => refused('sub', TftpErrorCode.FileNotFound));
  test('a FIFO is "file not found" and does not hang the server', () => refused('fifo', TftpErrorCode.FileNotFound));
  test('mail mode is refused', () => refused(Buffer.from('\x00\x01hello.txt\x00mail\x00', 'latin1'), TftpErrorCode.IllegalOperation));

  test('a write request is refused and nothing is written', async () => {
    await refused(encodeRequest('wrq', 'uploaded.bin', 'octet'), TftpErrorCode.AccessViolation);
    assert.equal(existsSync(join(root, 'uploaded.bin')), false);
  });

  test('backslashes are normalised: pxelinux.cfg\\01-<mac> is served', async () => {
    const p = await ask(rrq('pxelinux.cfg\\01-52-54-00-12-34-56'));
    assert.equal(p.op === 'data' && p.data.toString(), 'DEFAULT local\n');
  });

  test('a symlink that stays inside the root is served', async () => {
    const p = await ask(rrq('sub/inside'));
    assert.equal(p.op === 'data' && p.data.toString(), 'hello\nworld\n');
  });

  test('netascii mode converts line ends', async () => {
    const p = await ask(encodeRequest('rrq', 'hello.txt', 'netascii'));
    assert.equal(p.op === 'data' && p.data.toString('latin1'), 'hello\r\nworld\r\n');
  });

  test('malformed packets are dropped and the server keeps serving', async () => {
    const c = await new RawClient().open();
    try {
      for (const junk of [Buffer.alloc(0), Buffer.from([0]), Buffer.from([0, 9, 1, 2]), Buffer.from([0, 1, 0x61]), Buffer.from([0, 4, 0, 1]), Buffer.alloc(1400, 0xff)]) await c.send(junk, server.port);
    } finally {
      c.close();
    }
    const p = await ask(rrq('hello.txt'));
    assert.equal(p.op, 'data');
    assert.ok(server.metrics.dropped >= 4);
  });

  for (const engine of ['worker', 'loop'] as const) {
    test(`${engine} engine: a duplicate ACK sends nothing; a timeout retransmits; the transfer is given up after the retries`, async () => {
      const srv = engine === 'worker' ? server : loopServer;
      assert.equal(srv.config.engine, engine);
      const c = await new RawClient().open();
      try {
        const before = srv.metrics.retransmits;
        await c.send(rrq('big'), srv.port);
        const d1 = await c.waitFor(1);
        assert.equal(d1.packet.op === 'data' && d1.packet.block, 1);
        await c.send(encodeAck(1), d1.port);
        const d2 = await c.waitFor(2);
        assert.equal(d2.packet.op === 'data' && d2.packet.block, 2);
        await c.send(encodeAck(1), d1.port); // duplicate ACK: must not cause DATA 2 again right away
        await c.send(encodeAck(1), d1.port);
        await new Promise((r) => setTimeout(r, 50)); // well below the 100 ms timeout
        assert.equal(c.received.length, 2);
        // then silence: 3 retransmissions of DATA 2 (100 ms apart), then ERROR
        const last = await c.waitFor(6, 3000);
        const blocks = c.received.slice(2, 5).map((r) => (r.packet.op === 'data' ? r.packet.block : -1));
        assert.deepEqual(blocks, [2, 2, 2]);
        assert.equal(last.packet.op, 'error');
        assert.equal(srv.metrics.retransmits - before, 3);
      } finally {
        c.close();
      }
    });
  }

  test('past the concurrent-transfer limit a request gets a clear "server busy" error', async () => {
    const holders = [await new RawClient().open(), await new RawClient().open()];
    const extra = await new RawClient().open();
    try {
      for (const h of holders) await h.send(rrq('big'), server.port);
      for (const h of holders) await h.waitFor(1);
      await extra.send(rrq('hello.txt'), server.port);
      const p = (await extra.waitFor(1)).packet;
      assert.equal(p.op, 'error');
      assert.match(p.op === 'error' ? p.message : '', /busy/);
      assert.ok(server.metrics.busy >= 1);
      for (const h of holders) await h.send(Buffer.from([0, 5, 0, 0, 0]), h.received[0]!.port);
      const until = Date.now() + 2000;
      while (server.metrics.active > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      assert.equal(server.metrics.active, 0, 'a client ERROR ends its transfer');
    } finally {
      for (const h of [...holders, extra]) h.close();
    }
  });

  test('UEFI-style tsize probe: ERROR 8 after the OACK, then the same port asks again at once and is served', async () => {
    const c = await new RawClient().open();
    try {
      await c.send(encodeRequest('rrq', 'big', 'octet', new Map([['tsize', '0'], ['blksize', '1468']])), server.port);
      const o = await c.waitFor(1);
      assert.equal(o.packet.op === 'oack' && o.packet.options.get('tsize'), String(3 * 512 + 100));
      await c.send(Buffer.from('\x00\x05\x00\x08tsize probe done\x00', 'latin1'), o.port);
      await c.send(encodeRequest('rrq', 'big', 'octet', new Map([['blksize', '1468'], ['windowsize', '4']])), server.port);
      const o2 = await c.waitFor(2);
      assert.equal(o2.packet.op, 'oack');
      assert.notEqual(o2.port, o.port, 'a new transfer gets a new server port');
      await c.send(encodeAck(0), o2.port);
      const d = await c.waitFor(4); // 1636 bytes = 1468 + 168: two blocks in one window
      assert.deepEqual(c.received.slice(2, 4).map((r) => (r.packet.op === 'data' ? r.packet.data.length : -1)), [1468, 168]);
      await c.send(encodeAck(2), d.port);
    } finally {
      c.close();
    }
  });

  test('each finished transfer writes one JSON log line with client, file, bytes, seconds, blksize, windowsize', async () => {
    const c = await new RawClient().open();
    try {
      await c.send(encodeRequest('rrq', 'hello.txt', 'octet', new Map([['blksize', '1024'], ['windowsize', '4']])), server.port);
      const o = await c.waitFor(1);
      assert.equal(o.packet.op, 'oack');
      await c.send(encodeAck(0), o.port);
      await c.waitFor(2);
      await c.send(encodeAck(1), o.port);
      const deadline = Date.now() + 2000;
      let line: Record<string, unknown> | undefined;
      while (!line && Date.now() < deadline) {
        line = logLines.find((l) => l.event === 'tftp.transfer' && l.file === 'hello.txt' && l.blksize === 1024);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(line, 'no transfer log line');
      assert.equal(line.bytes, 12);
      assert.equal(line.windowsize, 4);
      assert.equal(line.result, 'completed');
      assert.match(String(line.client), /^127\.0\.0\.1:\d+$/);
      assert.equal(typeof line.seconds, 'number');
    } finally {
      c.close();
    }
  });
});

for (const engine of ['worker', 'loop'] as const) test(`${engine} engine: the per-transfer deadline aborts a transfer that is still running`, async () => {
  const s = await startTftp({ root, address: '127.0.0.1', port: 0, timeoutMs: 50, retries: 100, deadlineMs: 400, engine }, { log: silentLogger() });
  const c = await new RawClient().open();
  try {
    const t0 = Date.now();
    await c.send(rrq('big'), s.port);
    // never ACK: retransmissions every 50 ms until the 400 ms deadline ends it with an ERROR
    const deadline = Date.now() + 3000;
    while (!c.received.some((r) => r.packet.op === 'error') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const err = c.received.find((r) => r.packet.op === 'error');
    assert.ok(err, 'no ERROR after the deadline');
    assert.match(err.packet.op === 'error' ? err.packet.message : '', /deadline/);
    assert.ok(Date.now() - t0 >= 380);
    const until = Date.now() + 2000; // the worker reports the end after the client has the ERROR
    while (s.metrics.failed === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.equal(s.metrics.failed, 1);
  } finally {
    c.close();
    await s.stop();
  }
});

for (const engine of ['worker', 'loop'] as const) test(`${engine} engine: stop() aborts transfers in progress and the AbortSignal stops the server`, async () => {
  const ac = new AbortController();
  const s = await startTftp({ root, address: '127.0.0.1', port: 0, engine }, { log: silentLogger(), signal: ac.signal });
  const c = await new RawClient().open();
  try {
    await c.send(rrq('big'), s.port);
    await c.waitFor(1);
    ac.abort();
    const p = (await c.waitFor(2)).packet;
    assert.equal(p.op, 'error');
    assert.match(p.op === 'error' ? p.message : '', /shutting down/);
  } finally {
    c.close();
    await s.stop();
  }
});

test('config errors name the flag', async () => {
  await assert.rejects(startTftp({ root: '', address: 'not-an-ip' }, { log: silentLogger() }), (e: Error & { details?: { path?: string }[] }) => {
    const paths = (e.details ?? []).map((d) => d.path);
    assert.ok(paths.includes('tftp.root') && paths.includes('tftp.address'), JSON.stringify(paths));
    return true;
  });
});
