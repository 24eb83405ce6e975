import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode, type DhcpMessage } from '../../seed/dhcp/codec.ts';
import { classify, archFromCode } from '../../seed/dhcp/classify.ts';
import { loadCapture } from '../fixtures/dhcp/pcap.ts';

const first = (name: string): DhcpMessage => decode(loadCapture(name)[0]!.payload);

test('iPXE ROM under SeaBIOS: BIOS, PXEClient, iPXE (user class and option 175)', () => {
  const c = classify(first('ipxe-bios'));
  assert.equal(c.mac, '52:54:00:bb:00:01');
  assert.equal(c.arch, 'bios');
  assert.equal(c.archCode, 0);
  assert.equal(c.pxe, true);
  assert.equal(c.ipxe, true);
  assert.equal(c.httpBoot, false);
  assert.equal(c.uuid, undefined, 'an all-zero SMBIOS UUID is no identity');
});

test('OVMF UEFI PXE: arch 7 is UEFI x64, not iPXE', () => {
  const c = classify(first('ovmf-pxe'));
  assert.equal(c.arch, 'uefi-x64');
  assert.equal(c.archCode, 7);
  assert.equal(c.pxe, true);
  assert.equal(c.ipxe, false);
  assert.equal(c.messageType, 1);
});

test('ordinary clients are neither PXE nor iPXE', () => {
  for (const n of ['udhcpc', 'dhclient']) {
    const c = classify(first(n));
    assert.equal(c.pxe, false);
    assert.equal(c.ipxe, false);
    assert.equal(c.arch, 'unknown');
  }
});

function withOptions(msg: DhcpMessage, extra: { code: number; data: Uint8Array }[], giaddr = '0.0.0.0'): DhcpMessage {
  return decode(encode({ ...msg, giaddr, options: [...msg.options.filter((o) => !extra.some((e) => e.code === o.code)), ...extra] }));
}

test('UEFI HTTP boot (93 = 16, HTTPClient), arm64 (11), UUID from 97, relay option 82', () => {
  const m = withOptions(first('ovmf-pxe'), [
    { code: 93, data: Uint8Array.of(0, 16) },
    { code: 60, data: new Uint8Array(Buffer.from('HTTPClient:Arch:00016:UNDI:003001')) },
    { code: 97, data: Uint8Array.from([0, ...Buffer.from('0123456789abcdef0123456789abcdef', 'hex')]) },
    { code: 82, data: Uint8Array.from([1, 6, ...Buffer.from('Eth1/7'), 2, 3, 0xaa, 0x01, 0x02]) },
  ], '10.213.4.1');
  const c = classify(m);
  assert.equal(c.httpBoot, true);
  assert.equal(c.arch, 'uefi-x64');
  assert.equal(c.uuid, '01234567-89ab-cdef-0123-456789abcdef');
  assert.equal(c.relay?.giaddr, '10.213.4.1');
  assert.equal(c.relay?.circuitId, 'Eth1/7');
  assert.equal(c.relay?.remoteId, 'aa0102');
  assert.equal(archFromCode(11), 'uefi-arm64');
  assert.equal(archFromCode(9), 'uefi-x64');
  assert.equal(archFromCode(6), 'uefi-ia32');
  assert.equal(archFromCode(42), 'unknown');
});

test('arch from the PXE vendor class when option 93 is missing; RFC 3004 user class form', () => {
  const m = first('ovmf-pxe');
  const noArch = decode(encode({ ...m, options: [...m.options.filter((o) => o.code !== 93), { code: 77, data: Uint8Array.from([4, ...Buffer.from('iPXE')]) }] }));
  const c = classify(noArch);
  assert.equal(c.archCode, 7);
  assert.equal(c.arch, 'uefi-x64');
  assert.equal(c.ipxe, true);
});
