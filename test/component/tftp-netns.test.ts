// The server on a real (virtual) link: bound to the provisioning address inside a network
// namespace, a client in another namespace across a veth with MTU 1500. A request for blksize
// 65464 is clamped to 1468 (MTU − IP − UDP − TFTP headers), so no DATA packet is fragmented.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Lab, waitFor } from '../helpers/netns.ts';
import { randomFile, sha256File, tempDir } from './tftp-helpers.ts';

const lab = new Lab('tftp');
let tmp: { dir: string; cleanup: () => Promise<void> };
let srvNs: string;
let cliNs: string;

before(async () => {
  tmp = await tempDir('netns');
  srvNs = lab.netns('srv');
  cliNs = lab.netns('cli');
  lab.veth({ ns: srvNs, name: 'prov0', address: '10.213.17.1/24' }, { ns: cliNs, name: 'eth0', address: '10.213.17.2/24' });
  lab.exec(srvNs, ['ip', 'link', 'set', 'prov0', 'mtu', '1500']);
  lab.exec(cliNs, ['ip', 'link', 'set', 'eth0', 'mtu', '1500']);
});

after(async () => {
  await lab.cleanup();
  await tmp?.cleanup();
});

test('bound to the provisioning address in a namespace; blksize clamped to the path MTU; sha256 intact', async () => {
  const root = join(tmp.dir, 'root');
  await mkdir(root);
  const sum = await randomFile(join(root, 'f5'), 5 * 1024 * 1024 + 123);
  const config = { root, address: '10.213.17.1', port: 69 };
  const server = lab.spawn(srvNs, [process.execPath, join(import.meta.dirname, 'tftp-serve.ts'), JSON.stringify(config)]);
  await waitFor('server listening', () => (server.output().includes('"port":69') ? true : undefined), 15_000);
  const out = join(tmp.dir, 'out');
  const r = await lab.run(cliNs, ['curl', '-sS', '--tftp-blksize', '65464', '-o', out, 'tftp://10.213.17.1/f5'], 60_000);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await sha256File(out), sum);
  const line = await waitFor('transfer log line', () => server.output().split('\n').find((l) => l.includes('"event":"tftp.transfer"')), 5000);
  const log = JSON.parse(line) as { blksize: number; bytes: number; result: string; client: string };
  assert.equal(log.blksize, 1468);
  assert.equal(log.result, 'completed');
  assert.equal(log.bytes, 5 * 1024 * 1024 + 123);
  assert.match(log.client, /^10\.213\.17\.2:/);
  // nothing answers on another address of the server namespace: it is bound to the provisioning one
  const lo = await lab.run(srvNs, ['curl', '-sS', '--max-time', '3', '-o', out, 'tftp://127.0.0.1/f5'], 20_000);
  assert.notEqual(lo.code, 0);
  await server.stop();
});
