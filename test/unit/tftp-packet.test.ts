import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encodeAck, encodeData, encodeError, encodeOack, encodeRequest, TftpErrorCode } from '../../seed/tftp/packet.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('decodes an RRQ as curl sends it (options lower-cased, values kept)', () => {
  // curl --tftp-blksize 1468: "f20\0octet\0tsize\00\0blksize\01468\0timeout\06\0"
  const p = decode(Buffer.from('\x00\x01f20\x00octet\x00tsize\x000\x00BLKSIZE\x001468\x00timeout\x006\x00', 'latin1'));
  assert.equal(p.op, 'rrq');
  if (p.op !== 'rrq') return;
  assert.equal(p.filename, 'f20');
  assert.equal(p.mode, 'octet');
  assert.deepEqual([...p.options], [['tsize', '0'], ['blksize', '1468'], ['timeout', '6']]);
});

test('decodes mode case-insensitively and an RRQ without options', () => {
  const p = decode(Buffer.from('\x00\x01pxelinux.0\x00OCTET\x00', 'latin1'));
  assert.deepEqual(p, { op: 'rrq', filename: 'pxelinux.0', mode: 'octet', options: new Map() });
});

test('a NUL inside the filename is flagged, not parsed as a shorter name', () => {
  const p = decode(Buffer.from('\x00\x01pxelinux.0\x00../../etc/passwd\x00octet\x00', 'latin1'));
  assert.equal(p.op, 'invalid');
  assert.equal(p.op === 'invalid' && p.nulInFilename, true);
});

test('rejects unterminated, unknown-mode, short and unknown-opcode packets without throwing', () => {
  for (const b of [hex('00'), hex('0001 6100'), Buffer.from('\x00\x01a\x00octet', 'latin1'), Buffer.from('\x00\x01a\x00bogus\x00', 'latin1'), hex('0003 00'), hex('0004 01'), hex('0009 0000'), hex('0005')]) {
    assert.equal(decode(b).op, 'invalid', b.toString('hex'));
  }
});

test('WRQ decodes as wrq', () => {
  assert.equal(decode(encodeRequest('wrq', 'x', 'octet')).op, 'wrq');
});

test('round trips DATA, ACK, ERROR, OACK and requests', () => {
  assert.deepEqual(decode(encodeData(65535, Buffer.from('abc'))), { op: 'data', block: 65535, data: Buffer.from('abc') });
  assert.deepEqual(decode(encodeAck(7)), { op: 'ack', block: 7 });
  assert.deepEqual(decode(encodeAck(65536)), { op: 'ack', block: 0 }); // wire numbers are 16-bit
  assert.deepEqual(decode(encodeError(TftpErrorCode.AccessViolation, 'no')), { op: 'error', code: 2, message: 'no' });
  const opts = new Map([['blksize', '1468'], ['windowsize', '8']]);
  assert.deepEqual(decode(encodeOack(opts)), { op: 'oack', options: opts });
  assert.deepEqual(decode(encodeRequest('rrq', 'a/b', 'netascii', new Map([['tsize', '0']]))), { op: 'rrq', filename: 'a/b', mode: 'netascii', options: new Map([['tsize', '0']]) });
});

test('encodes ERROR exactly as RFC 1350 lays it out', () => {
  assert.equal(encodeError(1, 'file not found').toString('hex'), '00050001' + Buffer.from('file not found').toString('hex') + '00');
});

test('ACK with trailing padding still decodes', () => {
  assert.deepEqual(decode(hex('0004 0102 0000')), { op: 'ack', block: 0x0102 });
});
