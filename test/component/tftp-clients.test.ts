// Real TFTP clients (tftp-hpa, atftp, curl from Debian) fetch big files from the seed's TFTP
// server on loopback; every copy must have the right sha256. The 100 MiB file needs 204800
// blocks of 512 bytes, so the option-less clients also prove the block-number rollover.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, rm } from 'node:fs/promises';
import { silentLogger } from '../../core/log.ts';
import { startTftp, type TftpServer } from '../../seed/tftp/server.ts';
import { clients, randomFile, run, sha256File, tempDir } from './tftp-helpers.ts';

const MiB = 1024 * 1024;
let tmp: { dir: string; cleanup: () => Promise<void> };
let server: TftpServer;
const sums: Record<string, string> = {};

before(async () => {
  tmp = await tempDir('clients');
  const root = join(tmp.dir, 'root');
  await mkdir(root);
  sums['f20'] = await randomFile(join(root, 'f20'), 20 * MiB);
  sums['f100'] = await randomFile(join(root, 'f100'), 100 * MiB);
  sums['f10'] = await randomFile(join(root, 'f10'), 10 * MiB);
  server = await startTftp({ root, address: '127.0.0.1', port: 0 }, { log: silentLogger() });
});

after(async () => {
  await server?.stop();
  await tmp?.cleanup();
});

async function fetchWith(client: string, file: string, out: string): Promise<void> {
  const [cmd, args] = clients[client]!(server.port, file, out);
  const r = await run(cmd, args, 180_000);
  assert.equal(r.code, 0, `${cmd} exited ${r.code}: ${r.stderr}`);
  assert.equal(await sha256File(out), sums[file], `${client}: sha256 of ${file}`);
  await rm(out);
}

describe('real clients fetch 20 MiB and 100 MiB files', () => {
  for (const file of ['f20', 'f100']) {
    for (const client of Object.keys(clients)) {
      test(`${client}: ${file}`, () => fetchWith(client, file, join(tmp.dir, `${file}.${client.replace(/\W+/g, '_')}`)));
    }
  }
});

test('event-loop engine (session.ts, used for rendered files): tftp-hpa and atftp windowsize 64 fetch 20 MiB', async () => {
  const loop = await startTftp({ root: join(tmp.dir, 'root'), address: '127.0.0.1', port: 0, engine: 'loop' }, { log: silentLogger() });
  try {
    for (const client of ['tftp-hpa (no options)', 'atftp blksize 1468 windowsize 64']) {
      const out = join(tmp.dir, 'loop.out');
      const [cmd, args] = clients[client]!(loop.port, 'f20', out);
      const r = await run(cmd, args, 180_000);
      assert.equal(r.code, 0, `${cmd} exited ${r.code}: ${r.stderr}`);
      assert.equal(await sha256File(out), sums['f20'], `${client} via the loop engine`);
      await rm(out);
    }
    assert.equal(loop.metrics.completed, 2);
  } finally {
    await loop.stop();
  }
});

test('100 clients in parallel each fetch a 10 MiB file, all sha256 correct', async () => {
  const mix = ['curl --tftp-blksize 1468', 'atftp blksize 1468 windowsize 8', 'tftp-hpa (no options)', 'curl --tftp-blksize 65464'];
  const before = { ...server.metrics };
  const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => fetchWith(mix[i % mix.length]!, 'f10', join(tmp.dir, `p${i}`))));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`#${i}: ${(r.reason as Error).message}`] : []));
  assert.deepEqual(failed, []);
  assert.equal(server.metrics.completed - before.completed, 100);
  assert.equal(server.metrics.bytes - before.bytes, 100 * 10 * MiB);
});
