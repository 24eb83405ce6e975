// Per-machine boot menus through the real server, from a real etcd, fetched with curl as a boot
// loader would: the menu follows the machine's spec, dynamic files win over the static root,
// and an unreachable store gives the client an ERROR instead of a timeout.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Keys } from '../../core/keys.ts';
import { silentLogger } from '../../core/log.ts';
import { addMachine, assignMachine } from '../../core/registry/machines.ts';
import type { Store } from '../../core/store/store.ts';
import { openStore } from '../../store/connect.ts';
import { BootMenus } from '../../seed/tftp/boot-menus.ts';
import { storeBootPort } from '../../seed/tftp/machine-port.ts';
import { encodeRequest } from '../../seed/tftp/packet.ts';
import { startTftp, type TftpServer } from '../../seed/tftp/server.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { RawClient, run, tempDir } from './tftp-helpers.ts';

let tmp: { dir: string; cleanup: () => Promise<void> };
let etcd: TestEtcd;
let store: Store;
let server: TftpServer;
const keys = new Keys('/lpmos/', `tftp-${process.pid}`);

before(async () => {
  tmp = await tempDir('menus');
  const root = join(tmp.dir, 'root');
  await mkdir(join(root, 'pxelinux.cfg'), { recursive: true });
  // a static default that the rendered one must shadow
  await writeFile(join(root, 'pxelinux.cfg', 'default'), 'STATIC\n');
  await writeFile(join(root, 'lpxelinux.0'), 'boot loader bytes');
  etcd = await TestEtcd.start();
  store = await openStore({ endpoints: etcd.endpoints, logger: silentLogger(), timeoutMs: 2000 });
  const menus = new BootMenus(storeBootPort(store, keys), { seedUrl: 'http://10.213.16.1:8080', etcd: ['http://10.213.16.1:2379'], site: keys.root.split('/')[2]!, prefix: '/lpmos/', agentKernel: 'vmlinuz', agentInitrd: 'initrd.img', console: 'console=ttyS0', cmdline: '' });
  server = await startTftp({ root, address: '127.0.0.1', port: 0, renderTimeoutMs: 1500 }, { log: silentLogger(), dynamic: menus });
});

after(async () => {
  await server?.stop();
  await store?.close();
  await etcd?.stop();
  await tmp?.cleanup();
});

async function fetch(name: string): Promise<{ code: number; body: string; stderr: string }> {
  const out = join(tmp.dir, 'out');
  const r = await run('curl', ['-sS', '--tftp-blksize', '1468', '-o', out, `tftp://127.0.0.1:${server.port}/${name}`], 20_000);
  return { code: r.code, body: r.code === 0 ? await readFile(out, 'utf8') : '', stderr: r.stderr };
}

test('pxelinux and GRUB menus are rendered per machine from etcd and follow its spec', async () => {
  const mac = '52:54:00:21:43:65';
  // unknown MAC: not found (pxelinux then asks for default)
  assert.notEqual((await fetch('pxelinux.cfg/01-52-54-00-21-43-65')).code, 0);
  const def = await fetch('pxelinux.cfg/default');
  assert.equal(def.code, 0, def.stderr);
  assert.match(def.body, /lpmos\.action=discover/);
  assert.doesNotMatch(def.body, /STATIC/);

  await addMachine(store, keys, { name: 'db-07', macs: [mac] });
  await assignMachine(store, keys, 'db-07', { action: 'inspect' });
  let r = await fetch('pxelinux.cfg/01-52-54-00-21-43-65');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.body, /^DEFAULT agent$/m);
  assert.match(r.body, /KERNEL http:\/\/10\.213\.16\.1:8080\/artifacts\/vmlinuz/);
  assert.match(r.body, /APPEND lpmos\.seed=http:\/\/10\.213\.16\.1:8080 .*lpmos\.machine=db-07 .*lpmos\.action=inspect console=ttyS0/);

  await assignMachine(store, keys, 'db-07', { action: 'localboot' });
  r = await fetch('grub.cfg-01-52-54-00-21-43-65');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.body, /^set default=local$/m);
  // static files still come from the root
  r = await fetch('lpxelinux.0');
  assert.equal(r.body, 'boot loader bytes');
});

test('tsize of a rendered menu is its exact length (UEFI clients ask for it first)', async () => {
  const c = await new RawClient().open();
  try {
    await c.send(encodeRequest('rrq', 'pxelinux.cfg/default', 'octet', new Map([['tsize', '0']])), server.port);
    const o = (await c.waitFor(1)).packet;
    assert.equal(o.op, 'oack');
    const size = Number(o.op === 'oack' ? o.options.get('tsize') : NaN);
    const body = (await fetch('pxelinux.cfg/default')).body;
    assert.equal(size, Buffer.byteLength(body));
    await c.send(Buffer.from([0, 5, 0, 8, 0]), c.received[0]!.port);
  } finally {
    c.close();
  }
});

test('with the store down a menu request gets an ERROR, static files are still served', async () => {
  await etcd.kill();
  try {
    const t0 = Date.now();
    const c = await new RawClient().open();
    try {
      await c.send(encodeRequest('rrq', 'pxelinux.cfg/default', 'octet'), server.port);
      const p = (await c.waitFor(1, 10_000)).packet;
      assert.equal(p.op, 'error');
      assert.ok(Date.now() - t0 < 8000);
    } finally {
      c.close();
    }
    const r = await fetch('lpxelinux.0');
    assert.equal(r.body, 'boot loader bytes');
  } finally {
    await etcd.restart();
  }
});
