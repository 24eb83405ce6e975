import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ackedIndex, begin, blockRange, onAck, onTimeout, totalBlocks, wireBlock, type TransferState } from '../../seed/tftp/transfer.ts';

test('block count: a file that is a multiple of blksize ends with an empty block', () => {
  assert.equal(totalBlocks(0, 512), 1);
  assert.equal(totalBlocks(511, 512), 1);
  assert.equal(totalBlocks(512, 512), 2);
  assert.equal(totalBlocks(1024, 512), 3);
  assert.deepEqual(blockRange(3, 512, 1100), { start: 1024, end: 1100 });
});

test('lockstep transfer without options: DATA 1 first, one block per ACK, done on the last ACK', () => {
  let t = begin(1100, 512, 1, false);
  assert.deepEqual(t.step, { kind: 'data', from: 1, to: 1 });
  let a = onAck(t.state, 1);
  assert.deepEqual([a.ack, a.step], ['progress', { kind: 'data', from: 2, to: 2 }]);
  a = onAck(a.state, 2);
  assert.deepEqual(a.step, { kind: 'data', from: 3, to: 3 });
  a = onAck(a.state, 3);
  assert.deepEqual(a.step, { kind: 'done' });
  assert.equal(a.state.done, true);
  t = { state: a.state, step: a.step };
  assert.equal(onAck(t.state, 3).step.kind, 'none');
});

test('duplicate ACK sends nothing (no Sorcerer\'s Apprentice), a timeout resends', () => {
  let s = begin(10_000, 512, 1, false).state;
  s = onAck(s, 1).state; // sent 2
  const dup = onAck(s, 1);
  assert.equal(dup.ack, 'duplicate');
  assert.deepEqual(dup.step, { kind: 'none' });
  const again = onAck(dup.state, 1);
  assert.deepEqual(again.step, { kind: 'none' });
  const to = onTimeout(again.state, 5);
  assert.deepEqual(to.step, { kind: 'data', from: 2, to: 2 });
  assert.equal(to.state.retries, 1);
});

test('gives up after the allowed number of timeouts; progress resets the count', () => {
  let s = begin(10_000, 512, 1, false).state;
  for (let i = 0; i < 3; i++) s = onTimeout(s, 3).state;
  assert.equal(onTimeout(s, 3).step.kind, 'giveup');
  s = onAck(s, 1).state;
  assert.equal(s.retries, 0);
  assert.equal(onTimeout(s, 3).step.kind, 'data');
});

test('OACK first when options were accepted; ACK 0 starts the data; timeout resends the OACK', () => {
  const t = begin(5000, 1468, 1, true);
  assert.deepEqual(t.step, { kind: 'oack' });
  assert.equal(onAck(t.state, 5).step.kind, 'none');
  assert.deepEqual(onTimeout(t.state, 5).step, { kind: 'oack' });
  assert.deepEqual(onAck(t.state, 0).step, { kind: 'data', from: 1, to: 1 });
});

test('block numbers roll over past 65535 to 0 for big files without options', () => {
  const size = 70_000 * 512 + 17; // 70001 blocks of 512
  let s: TransferState = begin(size, 512, 1, false).state;
  for (let i = 1; i < 65535; i++) s = onAck(s, wireBlock(i)).state;
  assert.equal(s.sent, 65535);
  let a = onAck(s, 65535);
  assert.deepEqual(a.step, { kind: 'data', from: 65536, to: 65536 });
  assert.equal(wireBlock(65536), 0);
  a = onAck(a.state, 0); // ACK of block 65536, sent as 0
  assert.equal(a.ack, 'progress');
  assert.deepEqual(a.step, { kind: 'data', from: 65537, to: 65537 });
  assert.equal(wireBlock(65537), 1);
  assert.equal(onAck(a.state, 0).ack, 'duplicate');
  s = a.state;
  for (let i = 65537; i < 70001; i++) s = onAck(s, wireBlock(i)).state;
  assert.deepEqual(onAck(s, wireBlock(70001)).step, { kind: 'done' });
});

test('ACK numbers map to the right absolute block across the rollover', () => {
  const s = { ...begin(1e9, 512, 8, false).state, acked: 65530, sent: 65538 };
  assert.equal(ackedIndex(s, 2), 65538);
  assert.equal(ackedIndex(s, 65535), 65535);
  assert.equal(ackedIndex(s, 65530), 65530);
});

test('windowsize: a window per ACK of its last block; a gap ACK resends from after the ACKed block', () => {
  const t = begin(100 * 1468, 1468, 8, true);
  let a = onAck(t.state, 0);
  assert.deepEqual(a.step, { kind: 'data', from: 1, to: 8 });
  a = onAck(a.state, 8);
  assert.deepEqual(a.step, { kind: 'data', from: 9, to: 16 });
  // the client got 9..11 and then saw a gap: RFC 7440 says resend from 12
  a = onAck(a.state, 11);
  assert.equal(a.ack, 'progress');
  assert.deepEqual(a.step, { kind: 'data', from: 12, to: 19 });
  // a duplicate ACK of 11 (the client's own timeout) sends nothing
  assert.deepEqual(onAck(a.state, 11).step, { kind: 'none' });
  // a late ACK for an older block is stale
  assert.equal(onAck(a.state, 9).ack, 'stale');
});

test('window retransmit on timeout resends the whole unacknowledged window', () => {
  let s = onAck(begin(100 * 1468, 1468, 8, true).state, 0).state; // sent 1..8
  s = onAck(s, 8).state; // sent 9..16
  const t = onTimeout(s, 5);
  assert.deepEqual(t.step, { kind: 'data', from: 9, to: 16 });
  assert.equal(t.state.sent, 16);
});

test('the last window is cut at the last block and its ACK completes the transfer', () => {
  // 20 blocks of 1468 + a final empty block = 21 blocks
  let a = onAck(begin(20 * 1468, 1468, 8, true).state, 0);
  a = onAck(a.state, 8);
  a = onAck(a.state, 16);
  assert.deepEqual(a.step, { kind: 'data', from: 17, to: 21 });
  assert.deepEqual(onAck(a.state, 21).step, { kind: 'done' });
});
