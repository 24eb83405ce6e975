import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assembleInventory, type InventoryParts } from '../../agent/inventory/assemble.ts';
import { parseDmidecode } from '../../agent/inventory/parse-dmidecode.ts';
import { parseLsblk } from '../../agent/inventory/parse-lsblk.ts';
import { parseLscpu } from '../../agent/inventory/parse-lscpu.ts';
import { parseLspci } from '../../agent/inventory/parse-lspci.ts';
import { parseMeminfo } from '../../agent/inventory/parse-meminfo.ts';
import { parseSysfsDmi } from '../../agent/inventory/parse-sysfs-dmi.ts';
import { formatBytes, inventorySchema, summarizeInventory } from '../../core/model/inventory.ts';
import { isLpmosError } from '../../core/errors.ts';
import { fixture } from './inventory-fixture.ts';

const base = (): InventoryParts => ({
  collectedAt: '2026-11-22T15:00:00.000Z',
  lscpu: null, memTotalBytes: null, dmidecode: null, sysfsDmi: null, disks: null, nics: null, pci: null,
  virtualization: null, container: null, bootMode: null, unknown: [],
});

test('a 2-socket HP server from its captures: SMBIOS fills what lscpu lacks, DIMMs sum to installed memory', () => {
  const inv = assembleInventory({
    ...base(),
    memTotalBytes: parseMeminfo(fixture('meminfo/hp-dl380-gen9-128g.txt')),
    dmidecode: parseDmidecode(fixture('dmidecode/hp-proliant-dl380-gen9-2socket.txt')),
    pci: parseLspci(fixture('lspci/servers-raid-mmnnD.txt')),
    disks: parseLsblk(fixture('lsblk/ipa-mixed-old-strings.json')),
    virtualization: 'none', container: 'none', bootMode: 'uefi',
    unknown: [{ source: 'lscpu -J', reason: 'not installed' }],
  });
  assert.deepEqual(inv.cpu, { model: 'Intel(R) Xeon(R) CPU E5-2697 v4 @ 2.30GHz', vendor: null, arch: null, sockets: 2, cores: 36, threads: 72 });
  assert.equal(inv.memory.installedBytes, 32 * 2 ** 30);
  assert.equal(inv.memory.totalBytes, 131889124 * 1024);
  assert.equal(inv.dmi.system.product, 'ProLiant DL380 Gen9');
  assert.equal(inv.serial, null);
  assert.equal(inv.raidControllers.length, 5);
  assert.deepEqual(summarizeInventory(inv), {
    cpus: 72, memoryBytes: 32 * 2 ** 30, disks: { count: 3, totalBytes: 3116853504 + 10737418240 + 1765517033472 },
    text: { cpus: '2×18c/72t', memory: '32 GiB', disks: '3 / 1.6 TiB' },
  });
  assert.equal(inventorySchema.safeParse(JSON.parse(JSON.stringify(inv))).success, true, 'survives a JSON round trip through etcd');
});

test('lscpu wins over SMBIOS; sysfs DMI fills the identity strings dmidecode left empty', () => {
  const inv = assembleInventory({
    ...base(),
    lscpu: parseLscpu(fixture('lscpu/scaleway-2socket-e5-2620v3.txt')),
    dmidecode: parseDmidecode(fixture('dmidecode/dell-poweredge-r310.txt')),
    sysfsDmi: parseSysfsDmi({ product_version: 'A02', sys_vendor: 'Other Vendor' }),
  });
  assert.equal(inv.cpu.threads, 24);
  assert.equal(inv.cpu.model, 'Intel(R) Xeon(R) CPU E5-2620 v3 @ 2.40GHz');
  assert.equal(inv.dmi.system.vendor, 'Dell Inc.', 'dmidecode first');
  assert.equal(inv.dmi.system.version, 'A02', 'sysfs where dmidecode had a placeholder');
  assert.equal(inv.uuid, '4c4c4544-005a-3710-8042-c7c04f53344a');
  assert.equal(inv.serial, 'GZ7BS4J');
});

test('nothing known at all still makes a valid document that says so', () => {
  const inv = assembleInventory({ ...base(), unknown: [{ source: 'lscpu -J', reason: 'not installed' }] });
  assert.equal(inv.cpu.threads, null);
  assert.deepEqual(inv.disks, []);
  assert.deepEqual(summarizeInventory(inv).text, { cpus: '?', memory: '?', disks: '0' });
  assert.equal(inv.unknown.length, 1);
});

test('a document that breaks the schema is refused with the field named', () => {
  assert.throws(() => assembleInventory({ ...base(), collectedAt: 'yesterday' }), (e: unknown) => isLpmosError(e) && e.details.some((d) => d.path === 'collectedAt'));
  const bad = inventorySchema.safeParse({ version: 1 });
  assert.equal(bad.success, false);
});

test('formatBytes uses binary units', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(274877906944), '256 GiB');
  assert.equal(formatBytes(25276510208), '23.5 GiB');
});
