// The fast path's awake wait (config `spinUs`, seed/tftp/wait-mode.ts): a lock-step transfer
// running alone measures 128 ACKs waited for awake (polling its socket for up to spinUs), then 128
// asleep, and keeps the faster for 2048. A client that answers within the wait has its ACKs caught
// awake; a slow client ends the awake probe after 8 misses in a row and is waited for asleep, so it
// costs the seed a few milliseconds of polling, not a core. The finished transfer's log line says
// how many awake waits ran, how many caught the ACK, and which mode won each run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { createLogger } from '../../core/log.ts';
import { encodeAck, encodeRequest } from '../../seed/tftp/packet.ts';
import { startTftp, type TftpServer } from '../../seed/tftp/server.ts';
import { clients, RawClient, run, sha256File, tempDir } from './tftp-helpers.ts';

interface TransferLine {
  event: string;
  file: string;
  result: string;
  awake?: { waits: number; caught: number; runs: { awake: number; asleep: number } };
}

describe('awake wait for ACKs (spinUs)', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let root: string;
  const lines: TransferLine[] = [];
  const servers: TftpServer[] = [];
  let slowSum: string;
  /** 300 blocks of 512 bytes (the last one short). */
  const slowBytes = 299 * 512 + 100;

  async function server(spinUs: number): Promise<TftpServer> {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as TransferLine);
        cb();
      },
    });
    const s = await startTftp({ root, address: '127.0.0.1', port: 0, spinUs }, { log: createLogger({ format: 'json', level: 'info', destination: sink }) });
    servers.push(s);
    return s;
  }

  /** The log line of the transfer of `file` that finished last, among the lines from index `since` on. */
  async function lineOf(file: string, since = 0, waitMs = 2000): Promise<TransferLine> {
    for (const end = Date.now() + waitMs; ; ) {
      const l = lines.slice(since).filter((x) => x.event === 'tftp.transfer' && x.file === file).at(-1);
      if (l) return l;
      if (Date.now() > end) throw new Error(`no transfer line for ${file} within ${waitMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** curl without options fetches `file` from `s`; returns the sha256 of what it wrote. */
  async function curlGet(s: TftpServer, file: string, timeoutMs: number): Promise<string> {
    const out = join(tmp.dir, `${file}.out`);
    const [cmd, args] = clients['curl --tftp-no-options']!(s.port, file, out);
    const r = await run(cmd, args, timeoutMs);
    assert.equal(r.code, 0, r.stderr);
    return sha256File(out);
  }

  before(async () => {
    tmp = await tempDir('spin');
    root = join(tmp.dir, 'root');
    await mkdir(root);
    const fast = randomBytes(4 * 1024 * 1024);
    await writeFile(join(root, 'fast'), fast);
    const slow = randomBytes(slowBytes);
    await writeFile(join(root, 'slow'), slow);
    slowSum = createHash('sha256').update(slow).digest('hex');
  });

  after(async () => {
    for (const s of servers) await s.stop();
    await tmp?.cleanup();
  });

  test('a client on this host answers within the wait: ACKs are caught awake, the file arrives whole', async () => {
    const s = await server(1000);
    assert.equal(await curlGet(s, 'fast', 120_000), await sha256File(join(root, 'fast')));
    const l = await lineOf('fast');
    assert.equal(l.result, 'completed');
    assert.ok(l.awake, 'the log line counts awake waits');
    // 8192 blocks: a loaded machine makes some waits miss, but a local client answers most in 1 ms.
    assert.ok(l.awake.caught > 0 && l.awake.caught <= l.awake.waits, JSON.stringify(l.awake));
    // Probes of 256 ACKs and runs of 2048: at least 3 runs, won by either mode (the host decides).
    assert.ok(l.awake.runs.awake + l.awake.runs.asleep >= 3, JSON.stringify(l.awake));
  });

  test('a client slower than the wait: 8 misses end the awake probe, asleep wins the run', async () => {
    const s = await server(500);
    const since = lines.length;
    const c = await new RawClient().open();
    try {
      await c.send(encodeRequest('rrq', 'slow', 'octet'), s.port);
      let got = 0;
      const hash = createHash('sha256');
      for (let block = 1; ; block++) {
        const { packet, port } = await c.waitFor(got + 1);
        got++;
        assert.equal(packet.op, 'data');
        if (packet.op !== 'data') break;
        assert.equal(packet.block, block);
        hash.update(packet.data);
        await new Promise((r) => setTimeout(r, 2)); // ≥ 2 ms per ACK: slower than the 0.5 ms wait
        await c.send(encodeAck(block), port);
        if (packet.data.length < 512) break;
      }
      assert.equal(hash.digest('hex'), slowSum);
    } finally {
      c.close();
    }
    const l = await lineOf('slow', since);
    assert.equal(l.result, 'completed');
    // 300 ACKs: 8 missed awake waits, then 128 asleep, then a run of 2048 asleep: 8 waits. An ACK
    // later than the 5 ms receive timeout on a loaded host adds a wait (and may be caught by it);
    // waiting awake for every ACK would be 300.
    assert.ok(l.awake, 'the log line counts awake waits');
    assert.ok(l.awake.waits >= 8 && l.awake.waits <= 16, JSON.stringify(l.awake));
    assert.ok(l.awake.caught <= 4, JSON.stringify(l.awake));
    assert.deepEqual(l.awake.runs, { awake: 0, asleep: 1 });
  });

  // (Here the 8 missed awake waits after the client left turn the transfer asleep before the 1 s
  // retransmission draws the ICMP error; the error arriving during an awake wait takes the same path
  // in received(), see solo() in fast-worker.ts.)
  test('a client that goes away: the ICMP error ends the transfer, not its retries', async () => {
    const s = await server(1000);
    const since = lines.length;
    const c = await new RawClient().open();
    await c.send(encodeRequest('rrq', 'slow', 'octet'), s.port);
    await c.waitFor(1);
    c.close(); // no ACK: DATA 1 is sent again after the 1 s timeout, to a closed port
    const l = await lineOf('slow', since, 5000);
    // Without the error the transfer would run into its 5 retries (≈ 6 s) and end as a timeout.
    assert.equal(l.result, 'socket-error');
  });

  test('spinUs 0: never awake', async () => {
    const s = await server(0);
    const since = lines.length;
    assert.equal(await curlGet(s, 'slow', 60_000), slowSum);
    const l = await lineOf('slow', since);
    assert.equal(l.result, 'completed');
    assert.equal(l.awake, undefined);
  });
});
