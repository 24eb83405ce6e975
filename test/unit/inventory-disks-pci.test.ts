import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byPathMap, parseLsblk } from '../../agent/inventory/parse-lsblk.ts';
import { parseLspci, splitNameId } from '../../agent/inventory/parse-lspci.ts';
import { raidControllers } from '../../agent/inventory/raid-family.ts';
import { fixture } from './inventory-fixture.ts';

test('lsblk on this machine: the virtio disk, not the empty zram device', () => {
  const disks = parseLsblk(fixture('lsblk/local-virtio.json'));
  assert.deepEqual(disks, [{
    name: 'vda', path: '/dev/vda', sizeBytes: 274877906944, model: null, vendor: '0x1af4', serial: null, wwn: null,
    rotational: true, removable: false, transport: 'virtio', byPath: null, hctl: null, logicalSectorBytes: 512, physicalSectorBytes: 4096,
  }]);
});

test('lsblk: RAM disks, zram, loop, floppies, empty media and multipath maps are not disks; string sizes read', () => {
  const disks = parseLsblk(fixture('lsblk/ipa-mixed-old-strings.json'));
  assert.deepEqual(disks.map((d) => [d.name, d.sizeBytes, d.model, d.serial, d.rotational]), [
    ['sda', 3116853504, 'TinyUSB Drive', 'sda123', false],
    ['sdb', 10737418240, 'Fastable SD131 7', 'sdb123', false],
    ['sdc', 1765517033472, 'NWD-BLP4-1600', 'sdc123', false],
  ]);
  const small = parseLsblk(fixture('lsblk/ipa-small-string-size.json'));
  assert.deepEqual(small.map((d) => [d.name, d.path, d.sizeBytes]), [['sda', '/dev/sda', 3116853504], ['sdb', '/dev/sdb', 4294967295]]);
});

test('lsblk of util-linux < 2.33 ("1"/"0" strings) and NVMe transport from the name', () => {
  // Hand-written in the old string layout (no public capture of it with NVMe was found).
  const json = JSON.stringify({ blockdevices: [
    { name: 'nvme0n1', size: '1600321314816', type: 'disk', rota: '0', rm: '0', model: 'Dell Express Flash PM1725a 1.6TB SFF  ', tran: null, wwn: 'eui.01000000000000005cd2e4a0f6e04f51' },
    { name: 'sda', size: '599550590976', type: 'disk', rota: '1', rm: '0', model: 'PERC H730P Mini', tran: 'sas', hctl: '0:2:0:0' },
  ] });
  const [nvme, sda] = parseLsblk(json, byPathMap([
    { link: 'pci-0000:3b:00.0-nvme-1', target: '../../nvme0n1' },
    { link: 'pci-0000:18:00.0-scsi-0:2:0:0', target: '../../sda' },
    { link: 'pci-0000:18:00.0-scsi-0:2:0:0-part1', target: '../../sda1' },
  ]));
  assert.equal(nvme?.transport, 'nvme');
  assert.equal(nvme?.rotational, false);
  assert.equal(nvme?.model, 'Dell Express Flash PM1725a 1.6TB SFF');
  assert.equal(nvme?.byPath, 'pci-0000:3b:00.0-nvme-1');
  assert.equal(sda?.rotational, true);
  assert.equal(sda?.transport, 'sas');
  assert.equal(sda?.byPath, 'pci-0000:18:00.0-scsi-0:2:0:0');
});

test('by-path: partitions skipped, the shorter of two links for one disk kept', () => {
  const m = byPathMap([
    { link: 'pci-0000:00:1f.2-ata-1.0', target: '../../sda' },
    { link: 'pci-0000:00:1f.2-ata-1', target: '../../sda' },
    { link: 'pci-0000:00:1f.2-ata-1-part2', target: '../../sda2' },
  ]);
  assert.deepEqual([...m], [['sda', 'pci-0000:00:1f.2-ata-1']]);
});

test('lspci -mm -nn -D on this machine: six virtio functions, no RAID controller', () => {
  const devs = parseLspci(fixture('lspci/local-virtio.txt'));
  assert.equal(devs.length, 6);
  assert.deepEqual(devs[2], {
    slot: '0000:00:02.0', classId: '0180', className: 'Mass storage controller', vendorId: '1af4', vendorName: 'Red Hat, Inc.',
    deviceId: '1042', deviceName: 'Virtio 1.0 block device', subsystemVendorId: '1af4', subsystemVendorName: 'Red Hat, Inc.',
    subsystemDeviceId: '1042', subsystemDeviceName: 'Virtio 1.0 block device',
  });
  assert.deepEqual(raidControllers(devs), []);
});

test('the last bracketed id is the id: "MegaRAID SAS-3 3108 [Invader] [005d]"', () => {
  assert.deepEqual(splitNameId('MegaRAID SAS-3 3108 [Invader] [005d]'), { name: 'MegaRAID SAS-3 3108 [Invader]', id: '005d' });
  assert.deepEqual(splitNameId('RAID bus controller'), { name: 'RAID bus controller', id: null });
  assert.deepEqual(splitNameId(''), { name: null, id: null });
});

test('RAID families of real servers; an HBA, a NIC and an IDE controller are not RAID controllers', () => {
  const ctl = raidControllers(parseLspci(fixture('lspci/servers-raid-mmnnD.txt')));
  assert.deepEqual(ctl.map((c) => [c.pciAddress, c.vendorId, c.deviceId, c.family]), [
    ['0000:02:00.0', '103c', '323b', 'hpsa'],
    ['0000:84:00.0', '1000', '0079', 'megaraid'],
    ['0000:01:00.0', '1000', '005f', 'megaraid'],
    ['0000:18:00.0', '1000', '005d', 'perc'],
    ['0000:00:1f.2', '8086', '2822', 'mdadm-only'],
  ]);
  const perc = ctl.find((c) => c.family === 'perc');
  assert.equal(perc?.name, 'PERC H730P Mini (MegaRAID SAS-3 3108 [Invader])');
  assert.equal(perc?.subsystemVendorId, '1028');
  assert.equal(perc?.subsystemDeviceId, '1f47');
  assert.equal(ctl.find((c) => c.deviceId === '2822')?.name, '82801 SATA Controller [RAID mode]', '"Device [2001]" says nothing');
});

test('lspci -nnmm without domain: the Dell SAS 6/iR (IR firmware on a SCSI-class function) is listed, family unknown', () => {
  const devs = parseLspci(fixture('lspci/dell-blade-nnmm.txt'));
  assert.equal(devs[0]?.slot, '0000:00:00.0');
  assert.equal(devs.at(-1)?.slot, '0000:ff:00.0');
  assert.deepEqual(raidControllers(devs), [{
    pciAddress: '0000:03:00.0', vendorId: '1000', deviceId: '0058', subsystemVendorId: '1028', subsystemDeviceId: '1f0f',
    vendor: 'LSI Logic / Symbios Logic', name: 'SAS 6/iR Integrated Blades RAID Controller (SAS1068E PCI-Express Fusion-MPT SAS)', family: 'unknown',
  }]);
});

test('lspci -m without ids: families from names (Smart Array P410i, PERC 6/i, Areca)', () => {
  const ctl = raidControllers(parseLspci(fixture('lspci/ohai-raid-m-noids.txt')));
  assert.deepEqual(ctl.map((c) => [c.pciAddress, c.vendorId, c.family, c.name]), [
    ['0000:05:00.0', null, 'hpsa', 'Smart Array P410i (Smart Array G6 controllers)'],
    ['0000:11:00.0', null, 'unknown', 'Device 1880'],
    ['0000:01:00.0', null, 'perc', 'PERC 6/i Integrated RAID Controller (MegaRAID SAS 1078)'],
  ]);
});

test('HPE Gen10 Smart Array on smartpqi silicon and an Adaptec card', () => {
  // Hand-written lines with the ids and names of pci.ids (no public -mm capture of these was found).
  const ctl = raidControllers(parseLspci([
    '0000:5c:00.0 "Serial Attached SCSI controller [0107]" "Adaptec [9005]" "Smart Storage PQI 12G SAS/PCIe 3 [028f]" -r01 "Hewlett Packard Enterprise [1590]" "Smart Array P408i-a SR Gen10 [0280]"',
    '0000:02:00.0 "RAID bus controller [0104]" "Adaptec [9005]" "AAC-RAID (Rocket) [028c]" -r01 "Adaptec [9005]" "Series 7 - ASR-71605 - 16 internal 6G SAS Port/PCIe 3.0 [028b]"',
  ].join('\n')));
  assert.deepEqual(ctl.map((c) => c.family), ['smartpqi', 'aacraid']);
});
