import { test } from 'node:test';
import assert from 'node:assert/strict';
import { negotiate } from '../../seed/tftp/options.ts';

const limits = { maxBlksize: 65464, maxWindowsize: 64, defaultTimeoutMs: 1000 };
const opts = (o: Record<string, string>): Map<string, string> => new Map(Object.entries(o));

test('no options: 512-byte blocks, lockstep, no OACK', () => {
  assert.deepEqual(negotiate(new Map(), 100, limits), { blksize: 512, windowsize: 1, timeoutMs: 1000, reply: new Map() });
});

test('blksize is accepted in 8..65464, clamped to the path MTU, ignored below 8', () => {
  assert.equal(negotiate(opts({ blksize: '1468' }), 1, limits).blksize, 1468);
  assert.equal(negotiate(opts({ blksize: '65464' }), 1, limits).blksize, 65464);
  assert.equal(negotiate(opts({ blksize: '70000' }), 1, limits).reply.get('blksize'), '65464');
  const mtu1500 = negotiate(opts({ blksize: '65464' }), 1, { ...limits, maxBlksize: 1468 });
  assert.equal(mtu1500.blksize, 1468);
  assert.equal(mtu1500.reply.get('blksize'), '1468');
  const tiny = negotiate(opts({ blksize: '7' }), 1, limits);
  assert.equal(tiny.blksize, 512);
  assert.equal(tiny.reply.has('blksize'), false);
  assert.equal(negotiate(opts({ blksize: '8' }), 1, limits).blksize, 8);
  assert.equal(negotiate(opts({ blksize: '-1' }), 1, limits).reply.size, 0);
  assert.equal(negotiate(opts({ blksize: '1e3' }), 1, limits).reply.size, 0);
});

test('tsize answers the file size; timeout is echoed exactly or left out', () => {
  const n = negotiate(opts({ tsize: '0', timeout: '3' }), 20971520, limits);
  assert.equal(n.reply.get('tsize'), '20971520');
  assert.equal(n.reply.get('timeout'), '3');
  assert.equal(n.timeoutMs, 3000);
  assert.equal(negotiate(opts({ timeout: '0' }), 1, limits).reply.has('timeout'), false);
  assert.equal(negotiate(opts({ timeout: '256' }), 1, limits).timeoutMs, 1000);
});

test('windowsize (RFC 7440) is clamped to the server maximum; unknown options are left out', () => {
  assert.equal(negotiate(opts({ windowsize: '8' }), 1, limits).windowsize, 8);
  const big = negotiate(opts({ windowsize: '1000', multicast: '' }), 1, limits);
  assert.equal(big.windowsize, 64);
  assert.deepEqual([...big.reply], [['windowsize', '64']]);
  assert.equal(negotiate(opts({ windowsize: '0' }), 1, limits).windowsize, 1);
});
