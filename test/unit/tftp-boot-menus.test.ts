import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../core/keys.ts';
import { addMachine, assignMachine } from '../../core/registry/machines.ts';
import { MemoryStore } from '../../store/memory.ts';
import { BootMenus, parseMenuPath } from '../../seed/tftp/boot-menus.ts';
import { storeBootPort } from '../../seed/tftp/machine-port.ts';

test('menu paths: pxelinux and GRUB per-MAC and default names; everything else is not a menu', () => {
  assert.deepEqual(parseMenuPath('pxelinux.cfg/01-52-54-00-AB-cd-ef'), { kind: 'pxelinux', mac: '52:54:00:ab:cd:ef' });
  assert.deepEqual(parseMenuPath('pxelinux.cfg/default'), { kind: 'pxelinux' });
  assert.deepEqual(parseMenuPath('grub.cfg-01-52-54-00-ab-cd-ef'), { kind: 'grub', mac: '52:54:00:ab:cd:ef' });
  assert.deepEqual(parseMenuPath('grub/grub.cfg-01-52-54-00-ab-cd-ef'), { kind: 'grub', mac: '52:54:00:ab:cd:ef' });
  assert.deepEqual(parseMenuPath('grub/grub.cfg'), { kind: 'grub' });
  assert.deepEqual(parseMenuPath('grub.cfg'), { kind: 'grub' });
  for (const p of ['pxelinux.0', 'pxelinux.cfg/C0A80101', 'pxelinux.cfg/01-52-54-00-ab-cd', 'pxelinux.cfg/02-52-54-00-ab-cd-ef', 'grub/x86_64-efi/normal.mod', 'undionly.kpxe']) {
    assert.equal(parseMenuPath(p), undefined, p);
  }
});

const env = { seedUrl: 'http://10.213.16.1:8080', etcd: ['http://10.213.16.1:2379'], site: 'default', prefix: '/lpmos/', agentKernel: 'vmlinuz', agentInitrd: 'initrd.img', console: 'console=ttyS0', cmdline: '' };
const never = new AbortController().signal;

test('menus follow the machine state in the store: unknown → not ours, spec-less → discover, localboot, lease → GRUB by IP', async () => {
  const store = new MemoryStore();
  const keys = new Keys();
  const menus = new BootMenus(storeBootPort(store, keys), env);
  const client = { address: '10.213.16.50' };
  // unknown MAC: undefined, so pxelinux falls through to "default", which is rendered for discovery
  assert.equal(await menus.resolve('pxelinux.cfg/01-52-54-00-12-34-56', client, never), undefined);
  assert.match((await menus.resolve('pxelinux.cfg/default', client, never))!.toString(), /lpmos\.action=discover/);
  assert.equal(await menus.resolve('pxelinux.0', client, never), undefined);

  await addMachine(store, keys, { name: 'web-01', macs: ['52:54:00:12:34:56'] });
  let menu = (await menus.resolve('pxelinux.cfg/01-52-54-00-12-34-56', client, never))!.toString();
  assert.match(menu, /^DEFAULT agent$/m);
  assert.match(menu, /lpmos\.machine=web-01 .*lpmos\.action=discover/);

  await assignMachine(store, keys, 'web-01', { action: 'localboot' });
  menu = (await menus.resolve('pxelinux.cfg/01-52-54-00-12-34-56', client, never))!.toString();
  assert.match(menu, /^DEFAULT local$/m);
  assert.match((await menus.resolve('grub.cfg-01-52-54-00-12-34-56', client, never))!.toString(), /^set default=local$/m);

  // grub/grub.cfg carries no MAC: the DHCP lease on the client's address names the machine
  assert.match((await menus.resolve('grub/grub.cfg', client, never))!.toString(), /lpmos\.action=discover/);
  await store.put(keys.leaseAddress('10.213.16.50'), JSON.stringify({ kind: 'LeaseAddress', ip: '10.213.16.50', mac: '52:54:00:12:34:56', state: 'bound', expiresAt: '2099-01-01T00:00:00Z' }));
  assert.match((await menus.resolve('grub/grub.cfg', client, never))!.toString(), /^set default=local$/m);

  await assignMachine(store, keys, 'web-01', { action: 'inspect' });
  assert.match((await menus.resolve('grub/grub.cfg', client, never))!.toString(), /lpmos\.machine=web-01 .*lpmos\.action=inspect/);
  await store.close();
});
