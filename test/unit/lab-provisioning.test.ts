// lab/provisioning.ts, pure parts: the seed command line binds every service to the lab bridge only,
// and the inventory watch picks keys out of `etcdctl watch` output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seedArgs, watchedKeys } from '../../lab/provisioning.ts';
import { labAddressing } from '../../lab/network.ts';

test('the lab seed serves DHCP (full), TFTP and HTTP on the bridge and its address only', () => {
  const a = labAddressing(0);
  const args = seedArgs({ stateDir: '/s', iface: 'lpmbr0', address: a.seed, prefix: a.prefix, rangeStart: a.rangeStart, rangeEnd: a.rangeEnd, tftpRoot: '/assets', httpPort: 8080, artifacts: ['/ramdisk', '/assets'] });
  const flag = (f: string) => args[args.indexOf(f) + 1];
  assert.equal(args[0], 'seed');
  assert.equal(flag('--interface'), 'lpmbr0');
  assert.equal(flag('--address'), '10.213.64.1');
  assert.equal(flag('--dhcp'), 'full');
  assert.equal(flag('--dhcp-range'), '10.213.64.100-10.213.64.199/24');
  assert.equal(flag('--tftp-address'), '10.213.64.1');
  assert.equal(flag('--http-address'), '10.213.64.1');
  assert.equal(flag('--http-artifacts'), '/ramdisk,/assets');
  assert.equal(flag('--state-dir'), '/s');
  assert.ok(!args.includes('--site'));
  assert.equal(seedArgs({ stateDir: '/s', iface: 'b', address: a.seed, prefix: 24, rangeStart: a.rangeStart, rangeEnd: a.rangeEnd, tftpRoot: '/t', httpPort: 1, artifacts: [], site: 'lab' }).includes('lab'), true);
});

test('watchedKeys: the key after each PUT, not deletes or values; state carries across output chunks', () => {
  const out = ['PUT', '/lpmos/default/inventory/m-1', '/lpmos/default/inventory/m-x as a value', 'DELETE', '/lpmos/default/inventory/m-2', 'PUT'];
  const state = { afterPut: false };
  assert.deepEqual(watchedKeys(out, '/lpmos/default/inventory/', state), ['/lpmos/default/inventory/m-1']);
  assert.deepEqual(watchedKeys(['/lpmos/default/inventory/m-3', '{}'], '/lpmos/default/inventory/', state), ['/lpmos/default/inventory/m-3']);
});
