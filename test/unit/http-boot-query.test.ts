import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLpmosError } from '../../core/errors.ts';
import { parseBootQuery } from '../../seed/http/boot-query.ts';

const q = (s: string, macRequired = true) => parseBootQuery(new URLSearchParams(s), macRequired);
const usage = (param: string) => (e: unknown) => isLpmosError(e, 'E_USAGE') && e.message.includes(`"${param}"`);

test('what iPXE sends: MAC normalised, RFC UUID lower-cased, serial decoded, arch and platform kept', () => {
  assert.deepEqual(q('mac=52:54:00:AB:CD:EF&uuid=4C4C4544-0042-3510-8052-B4C04F4E4B32&serial=CZ%20J1234&arch=x86_64&platform=efi'), {
    mac: '52:54:00:ab:cd:ef', uuid: '4c4c4544-0042-3510-8052-b4c04f4e4b32', serial: 'CZ J1234', arch: 'x86_64', platform: 'efi',
  });
  assert.deepEqual(q('mac=52-54-00-ab-cd-ef'), { mac: '52:54:00:ab:cd:ef' });
});

test('settings the firmware lacks arrive empty and count as not sent', () => {
  assert.deepEqual(q('mac=52:54:00:ab:cd:ef&uuid=&serial=&arch=&platform='), { mac: '52:54:00:ab:cd:ef' });
});

test('SMBIOS placeholders and non-RFC UUIDs identify nothing: dropped, not refused', () => {
  assert.deepEqual(q('mac=52:54:00:ab:cd:ef&serial=To%20Be%20Filled%20By%20O.E.M.&uuid=03000200-0400-0500-0006-000700080009'), { mac: '52:54:00:ab:cd:ef' });
});

test('a missing or malformed MAC is refused, naming the parameter', () => {
  assert.throws(() => q('uuid=4c4c4544-0042-3510-8052-b4c04f4e4b32'), usage('mac'));
  assert.throws(() => q('mac=zz'), usage('mac'));
  assert.throws(() => q('mac=01:00:5e:00:00:01'), usage('mac')); // multicast
  assert.deepEqual(q('', false), {});
});

test('unknown parameters, repeated ones and bad values are refused', () => {
  assert.throws(() => q('mac=52:54:00:ab:cd:ef&hostname=x'), usage('hostname'));
  assert.throws(() => q('mac=52:54:00:ab:cd:ef&mac=52:54:00:ab:cd:ee'), usage('mac'));
  assert.throws(() => q('mac=52:54:00:ab:cd:ef&uuid=not-a-uuid'), usage('uuid'));
  assert.throws(() => q('mac=52:54:00:ab:cd:ef&arch=sparc'), usage('arch'));
  assert.throws(() => q('mac=52:54:00:ab:cd:ef&platform=bios'), usage('platform'));
  assert.throws(() => q('mac=52:54:00:ab:cd:ef&serial=a%0Ab'), usage('serial'));
  assert.throws(() => q(`mac=52:54:00:ab:cd:ef&serial=${'x'.repeat(129)}`), usage('serial'));
});
