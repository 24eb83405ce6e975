import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode, getOption, macOf, type DhcpMessage } from '../../seed/dhcp/codec.ts';
import { Opt, readText, readIp } from '../../seed/dhcp/options.ts';
import { allPayloads, loadCapture } from '../fixtures/dhcp/pcap.ts';
import { isLpmosError } from '../../core/errors.ts';

test('every captured packet decodes and re-encodes to the same message', () => {
  const all = allPayloads();
  assert.ok(all.length >= 20, `expected the fixture captures, got ${all.length} packets`);
  for (const { name, payload } of all) {
    const msg = decode(payload);
    const again = decode(encode(msg));
    assert.deepEqual(again, msg, name);
  }
});

test('udhcpc DISCOVER: fields and options as busybox sent them', () => {
  const d = loadCapture('udhcpc')[0]!;
  const m = decode(d.payload);
  assert.equal(m.op, 1);
  assert.equal(macOf(m), '52:54:00:12:34:56');
  assert.equal(getOption(m, Opt.MessageType)?.[0], 1);
  assert.equal(readText(getOption(m, Opt.Hostname)), 'lab-udhcpc');
  assert.equal(readText(getOption(m, Opt.VendorClass)), 'lab-vendor');
  assert.deepEqual([...getOption(m, Opt.ClientId)!], [1, 0x52, 0x54, 0, 0x12, 0x34, 0x56]);
});

test('dnsmasq OFFER in the dhclient capture: yiaddr, server id, boot file', () => {
  const m = decode(loadCapture('dhclient')[1]!.payload);
  assert.equal(m.op, 2);
  assert.equal(m.yiaddr, '10.213.0.111');
  assert.equal(m.siaddr, '10.213.0.1');
  assert.equal(m.file, 'undionly.kpxe');
  assert.equal(readIp(getOption(m, Opt.ServerId)), '10.213.0.1');
});

test('unknown options are kept as raw bytes in order (iPXE option 175, 94, 97)', () => {
  const m = decode(loadCapture('ipxe-bios')[0]!.payload);
  const codes = m.options.map((o) => o.code);
  assert.deepEqual(codes.slice(0, 5), [53, 57, 93, 94, 60]);
  assert.ok(codes.includes(175));
  const buf = encode(m);
  // Byte-exact: options in the same order, same bytes (the original has no padding beyond End).
  assert.deepEqual(buf.subarray(0, 400), loadCapture('ipxe-bios')[0]!.payload.subarray(0, 400));
});

function base(options: { code: number; data: Uint8Array }[]): DhcpMessage {
  return {
    op: 1, htype: 1, hlen: 6, hops: 0, xid: 0x01020304, secs: 0, flags: 0x8000,
    ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0',
    chaddr: Uint8Array.from([2, 0, 0, 0, 0, 1, ...new Array(10).fill(0)]), sname: '', file: '', options,
  };
}

test('RFC 3396: a 600-byte option is split on encode and concatenated on decode', () => {
  const long = Uint8Array.from({ length: 600 }, (_, i) => i & 255);
  const buf = encode(base([{ code: 53, data: Uint8Array.of(1) }, { code: 224, data: long }]));
  // 3 pieces: 255 + 255 + 90
  const pieces = [];
  for (let i = 240; buf[i] !== 255; ) {
    if (buf[i] === 0) { i++; continue; }
    pieces.push([buf[i], buf[i + 1]]);
    i += 2 + buf[i + 1]!;
  }
  assert.deepEqual(pieces, [[53, 1], [224, 255], [224, 255], [224, 90]]);
  assert.deepEqual(getOption(decode(buf), 224), long);
});

test('option overload (52): options in file and sname are read, in the order options, file, sname', () => {
  const buf = encode(base([{ code: 53, data: Uint8Array.of(1) }, { code: 52, data: Uint8Array.of(3) }]));
  // file field (108..235): hostname "ab" then part 1 of option 224; sname (44..107): part 2 of 224.
  buf.set([12, 2, 0x61, 0x62, 224, 2, 1, 2, 255], 108);
  buf.set([224, 1, 3, 255], 44);
  const m = decode(buf);
  assert.equal(readText(getOption(m, Opt.Hostname)), 'ab');
  assert.deepEqual([...getOption(m, 224)!], [1, 2, 3]);
  assert.equal(m.file, '');
  assert.equal(m.sname, '');
});

test('pad options are skipped and a missing End is tolerated', () => {
  const buf = encode(base([{ code: 53, data: Uint8Array.of(3) }]));
  const trimmed = Buffer.concat([buf.subarray(0, 240), Buffer.from([0, 0, 53, 1, 3, 0])]);
  assert.equal(getOption(decode(trimmed), 53)?.[0], 3);
});

test('malformed packets throw E_PARSE, never anything else', () => {
  const good = encode(base([{ code: 53, data: Uint8Array.of(1) }]));
  const cases: Buffer[] = [
    Buffer.alloc(0),
    good.subarray(0, 239),
    Buffer.concat([good.subarray(0, 236), Buffer.from([1, 2, 3, 4])]), // wrong cookie
    Buffer.concat([good.subarray(0, 240), Buffer.from([53])]), // no length
    Buffer.concat([good.subarray(0, 240), Buffer.from([53, 9, 1])]), // length past the end
    Buffer.concat([good.subarray(0, 240), Buffer.from([52, 1, 7, 255])]), // bad overload
  ];
  const hlen = Buffer.from(good); hlen[2] = 17; cases.push(hlen);
  for (const c of cases) {
    assert.throws(() => decode(c), (e: unknown) => isLpmosError(e, 'E_PARSE'));
  }
});

test('encode pads to the 300-byte BOOTP minimum and rejects an over-long file name', () => {
  assert.equal(encode(base([])).length, 300);
  assert.throws(() => encode({ ...base([]), file: 'x'.repeat(129) }), /file longer/);
  assert.equal(decode(encode({ ...base([]), file: 'x'.repeat(128) })).file, 'x'.repeat(128));
});

test('address parsing: ipToInt/intToIp round trip, bad text rejected', async () => {
  const { ipToInt, intToIp, isIpv4 } = await import('../../seed/dhcp/options.ts');
  for (const ip of ['0.0.0.0', '10.213.0.1', '255.255.255.255', '192.168.100.7']) assert.equal(intToIp(ipToInt(ip)), ip);
  assert.equal(ipToInt('10.213.0.1'), 0x0ad50001);
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', 'a.b.c.d', '1.2.3.4 ', '1.2.3.0004']) {
    assert.throws(() => ipToInt(bad), RangeError, bad);
    assert.equal(isIpv4(bad), false, bad);
  }
});
