import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dmiRecords, dmiSizeBytes, parseDmidecode } from '../../agent/inventory/parse-dmidecode.ts';
import { parseSysfsDmi } from '../../agent/inventory/parse-sysfs-dmi.ts';
import { clean, cleanUuid } from '../../agent/inventory/text.ts';
import { fixture } from './inventory-fixture.ts';

const GiB = 2 ** 30;

test('Dell PowerEdge R310: identity, one socket, four 2 GiB DIMMs, empty slots skipped', () => {
  const d = parseDmidecode(fixture('dmidecode/dell-poweredge-r310.txt'));
  assert.equal(d.found, true);
  assert.deepEqual(d.dmi.system, {
    vendor: 'Dell Inc.', product: 'PowerEdge R310', version: null, serial: 'GZ7BS4J',
    uuid: '4c4c4544-005a-3710-8042-c7c04f53344a', sku: null, family: null,
  });
  assert.deepEqual(d.dmi.board, { vendor: 'Dell Inc.', product: '0P229K', version: 'A00', serial: '..CN1374004L0079.' });
  assert.deepEqual(d.dmi.bios, { vendor: 'Dell Inc.', version: '1.0.0', date: '02/11/2010' });
  // "Version: Intel(R) Xeon(R) CPU           X3450  @ 2.67GHz": inner runs of spaces squeezed
  assert.deepEqual(d.processors, { sockets: 1, cores: 4, threads: 8, model: 'Intel(R) Xeon(R) CPU X3450 @ 2.67GHz' });
  assert.equal(d.dimms.length, 4);
  assert.deepEqual(d.dimms[0], {
    locator: 'DIMM_A1', sizeBytes: 2 * GiB, type: 'DDR3', speedMTs: 1333, manufacturer: '00CE000080CE', serial: '851C0D08', partNumber: 'M391B5673EH1-CH9',
  });
});

test('HP ProLiant DL380 Gen9: two sockets of 18 cores, censored serial and UUID lines read as unknown', () => {
  const d = parseDmidecode(fixture('dmidecode/hp-proliant-dl380-gen9-2socket.txt'));
  assert.deepEqual(d.processors, { sockets: 2, cores: 36, threads: 72, model: 'Intel(R) Xeon(R) CPU E5-2697 v4 @ 2.30GHz' });
  assert.equal(d.dmi.system.vendor, 'HP');
  assert.equal(d.dmi.system.product, 'ProLiant DL380 Gen9');
  assert.equal(d.dmi.system.sku, '719064-B21');
  assert.equal(d.dmi.system.family, 'ProLiant');
  assert.equal(d.dmi.system.serial, null);
  assert.equal(d.dmi.system.uuid, null);
  assert.deepEqual(d.dmi.bios, { vendor: 'HP', version: 'P89', date: '07/18/2016' });
  assert.deepEqual(d.dmi.board, { vendor: null, product: null, version: null, serial: null }, 'no type 2 record in this capture');
  assert.deepEqual(d.dimms.map((m) => [m.locator, m.sizeBytes, m.speedMTs, m.serial]), [
    ['PROC 1 DIMM 1', 16 * GiB, 2400, null], ['PROC 1 DIMM 4', 16 * GiB, 2400, null],
  ]);
});

test('dmidecode -t 4 alone: sockets and cores without any identity', () => {
  const d = parseDmidecode(fixture('dmidecode/scaleway-2socket-e5-2620v3-t4.txt'));
  assert.deepEqual(d.processors, { sockets: 2, cores: 12, threads: 24, model: 'Intel(R) Xeon(R) CPU E5-2620 v3 @ 2.40GHz' });
  assert.equal(d.dmi.system.vendor, null);
  assert.deepEqual(d.dimms, []);
});

test('"To Be Filled By O.E.M.", blank padded fields, template UUID and 4-space indentation', () => {
  const d = parseDmidecode(fixture('dmidecode/asrock-oem-placeholders.txt'));
  assert.deepEqual(d.dmi.system, { vendor: null, product: null, version: null, serial: null, uuid: null, sku: null, family: null });
  assert.deepEqual(d.dmi.board, { vendor: 'ASRock', product: 'FM2A88X-ITX+', version: null, serial: 'E80-48027200380' });
  // nested "Features:" items are not properties
  assert.equal(dmiRecords(fixture('dmidecode/asrock-oem-placeholders.txt'))[1]?.props.has('Board is a hosting board'), false);
});

test('a serial of dots, padding dots and the second AMI template UUID', () => {
  const d = parseDmidecode(fixture('dmidecode/acer-dotted-serial.txt'));
  assert.equal(d.dmi.system.vendor, 'ACER');
  assert.equal(d.dmi.system.serial, null);
  assert.equal(d.dmi.system.uuid, null);
  assert.equal(d.dmi.board.product, 'ERC410M');
  assert.equal(d.dmi.board.serial, null);
});

test('dmidecode 2.x layout with "DMI type" on its own line', () => {
  const recs = dmiRecords(fixture('dmidecode/old-2x-layout-oem.txt'));
  assert.deepEqual(recs.map((r) => [r.handle, r.type, r.name]), [['0x0001', 1, 'System Information'], ['0x0002', 2, 'Base Board Information']]);
  assert.equal(recs[0]?.props.get('Wake-up Type'), 'PCI PME#');
  const d = parseDmidecode(fixture('dmidecode/old-2x-layout-oem.txt'));
  assert.equal(d.dmi.system.vendor, null);
  assert.equal(d.dmi.system.uuid, null);
});

test('no SMBIOS table (this container): nothing found, no exception', () => {
  const d = parseDmidecode(fixture('dmidecode/local-container-nodmi.txt'));
  assert.equal(d.found, false);
  assert.equal(d.processors, null);
  assert.deepEqual(d.dimms, []);
});

test('an unpopulated socket does not count', () => {
  const d = parseDmidecode('Handle 0x0400, DMI type 4, 48 bytes\nProcessor Information\n\tStatus: Populated, Enabled\n\tCore Count: 8\n\tThread Count: 16\n\n' +
    'Handle 0x0401, DMI type 4, 48 bytes\nProcessor Information\n\tStatus: Unpopulated\n\tCore Count: 8\n');
  assert.deepEqual(d.processors, { sockets: 1, cores: 8, threads: 16, model: null });
});

test('DIMM sizes in the units dmidecode prints', () => {
  assert.equal(dmiSizeBytes('16384 MB'), 16 * GiB);
  assert.equal(dmiSizeBytes('32 GB'), 32 * GiB);
  assert.equal(dmiSizeBytes('1 TB'), 1024 * GiB);
  assert.equal(dmiSizeBytes('No Module Installed'), null);
  assert.equal(dmiSizeBytes('Unknown'), null);
});

test('placeholder cleaning and UUID checks', () => {
  for (const p of ['Not Specified', 'To Be Filled By O.E.M.', 'Default string', 'System Serial Number', '   ', 'Not Available', '0000000000', 'FFFFFFFF']) {
    assert.equal(clean(p), null, p);
  }
  assert.equal(clean('  PowerEdge   R640 '), 'PowerEdge R640');
  assert.equal(clean('..CN1374004L0079.'), '..CN1374004L0079.');
  assert.equal(cleanUuid('00000000-0000-0000-0000-000000000000'), null);
  assert.equal(cleanUuid('FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'), null);
  assert.equal(cleanUuid('not-a-uuid'), null);
  assert.equal(cleanUuid('EC2C3DEA-666A-3C8F-70B5-93C35396773E'), 'ec2c3dea-666a-3c8f-70b5-93c35396773e');
});

test('sysfs DMI files (kernel dmi-id) as the fallback identity', () => {
  const dmi = parseSysfsDmi({ sys_vendor: 'QEMU\n', product_name: 'Standard PC (Q35 + ICH9, 2009)\n', product_uuid: '5C1E3B2A-0000-4000-8000-0000000000AB\n', product_serial: '\n', bios_vendor: 'EFI Development Kit II / OVMF\n' });
  assert.equal(dmi.system.vendor, 'QEMU');
  assert.equal(dmi.system.product, 'Standard PC (Q35 + ICH9, 2009)');
  assert.equal(dmi.system.uuid, '5c1e3b2a-0000-4000-8000-0000000000ab');
  assert.equal(dmi.system.serial, null);
  assert.equal(dmi.bios.vendor, 'EFI Development Kit II / OVMF');
});
