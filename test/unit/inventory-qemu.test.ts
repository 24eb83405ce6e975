// Captures from two QEMU guests (TCG) booted for these fixtures, one with SeaBIOS and one with
// OVMF (see test/fixtures/inventory/README.md for the exact command lines). The assembled
// inventory must say what the VM was started with: MACs, memory, CPUs, both disk sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assembleInventory } from '../../agent/inventory/assemble.ts';
import { assembleNics } from '../../agent/inventory/nics.ts';
import { parseDmidecode } from '../../agent/inventory/parse-dmidecode.ts';
import { parseEthtoolDriver, parseEthtoolLink } from '../../agent/inventory/parse-ethtool.ts';
import { parseIpLink } from '../../agent/inventory/parse-ip-link.ts';
import { parseLsblk } from '../../agent/inventory/parse-lsblk.ts';
import { parseLscpu } from '../../agent/inventory/parse-lscpu.ts';
import { parseLspci } from '../../agent/inventory/parse-lspci.ts';
import { parseMeminfo } from '../../agent/inventory/parse-meminfo.ts';
import { chooseVirt, virtFromDmi, virtFromLscpu } from '../../agent/inventory/virt-fallback.ts';
import { summarizeInventory } from '../../core/model/inventory.ts';
import { fixture } from './inventory-fixture.ts';

const GiB = 2 ** 30;

function vmInventory(vm: 'bios' | 'uefi', nics: string[]) {
  const dmi = parseDmidecode(fixture(`dmidecode/qemu-${vm}.txt`));
  const lscpuOut = fixture(`lscpu/qemu-${vm}.json`);
  return assembleInventory({
    collectedAt: '2026-11-22T15:30:00.000Z',
    lscpu: parseLscpu(lscpuOut),
    memTotalBytes: parseMeminfo(fixture(`meminfo/qemu-${vm}.txt`)),
    dmidecode: dmi,
    sysfsDmi: null,
    disks: parseLsblk(fixture(`lsblk/qemu-${vm}.json`)),
    nics: assembleNics({
      links: parseIpLink(fixture(`net/ip-j-d-link-qemu-${vm}.json`)),
      drivers: new Map(nics.map((n) => [n, parseEthtoolDriver(fixture(`net/ethtool-i-qemu-${vm}-${n}.txt`))])),
      settings: new Map(nics.map((n) => [n, parseEthtoolLink(fixture(`net/ethtool-qemu-${vm}-${n}.txt`))])),
      bonds: new Map(),
    }),
    pci: parseLspci(fixture(`lspci/qemu-${vm}.txt`)),
    virtualization: chooseVirt(null, virtFromLscpu(lscpuOut), virtFromDmi(dmi.dmi.system.vendor, dmi.dmi.system.product)),
    container: null,
    bootMode: vm === 'uefi' ? 'uefi' : 'bios',
    unknown: [],
  });
}

test('SeaBIOS guest (-m 1024 -smp 2, virtio + NVMe disks of 1 and 2 GiB, virtio-net + e1000e, megasas-gen2)', () => {
  const inv = vmInventory('bios', ['eth0', 'eth1']);
  assert.equal(inv.serial, 'LAB-BIOS-0001');
  assert.equal(inv.uuid, '8f1d3c3e-6a3e-4c55-9a43-1b2f3c4d5e6f');
  assert.deepEqual(inv.dmi.bios, { vendor: 'SeaBIOS', version: '1.16.2-debian-1.16.2-1', date: '04/01/2014' });
  assert.equal(inv.memory.installedBytes, 1 * GiB, 'SMBIOS type 17 "Size: 1 GB"');
  assert.ok(inv.memory.totalBytes !== null && inv.memory.totalBytes < GiB, 'the kernel sees less than installed');
  assert.equal(inv.cpu.threads, 2);
  assert.deepEqual(inv.disks.map((d) => [d.name, d.sizeBytes, d.transport, d.rotational, d.model, d.serial]), [
    ['vda', 1 * GiB, 'virtio', true, null, null],
    ['nvme0n1', 2 * GiB, 'nvme', false, 'QEMU NVMe Ctrl', 'LABNVME2'],
  ]);
  assert.deepEqual(inv.nics.map((n) => [n.name, n.mac, n.driver, n.pciAddress, n.link, n.speedMbps, n.kind]), [
    ['eth0', '52:54:00:12:34:56', 'virtio_net', '0000:00:05.0', 'up', null, 'physical'],
    ['eth1', '52:54:00:ab:cd:ef', 'e1000e', '0000:00:06.0', 'up', 1000, 'physical'],
  ]);
  assert.deepEqual(inv.raidControllers, [{
    pciAddress: '0000:00:07.0', vendorId: '1000', deviceId: '0079', subsystemVendorId: '1000', subsystemDeviceId: '9261',
    vendor: 'Broadcom / LSI', name: 'MegaRAID SAS 9260-8i (MegaRAID SAS 2108 [Liberator])', family: 'megaraid',
  }]);
  assert.equal(inv.virtualization, 'vm-other', 'TCG: CPUID has the hypervisor bit but no vendor; the SMBIOS vendor was overridden');
  assert.deepEqual(summarizeInventory(inv).text, { cpus: '2', memory: '1 GiB', disks: '2 / 3 GiB' });
});

test('OVMF guest (-m 2048, 2 sockets × 2 cores): nested lscpu -J of util-linux 2.38, UEFI', () => {
  const inv = vmInventory('uefi', ['eth0']);
  assert.equal(inv.serial, 'LAB-UEFI-0002');
  assert.equal(inv.uuid, '2b7c9e41-0d5a-4f1e-8c3b-6a7d8e9f0a1b');
  assert.equal(inv.dmi.bios.vendor, 'EFI Development Kit II / OVMF');
  assert.equal(inv.memory.installedBytes, 2 * GiB);
  assert.deepEqual(inv.cpu, { model: 'QEMU Virtual CPU version 2.5+', vendor: 'AuthenticAMD', arch: 'x86_64', sockets: 2, cores: 4, threads: 4 });
  assert.deepEqual(inv.disks.map((d) => d.sizeBytes), [1 * GiB, 2 * GiB]);
  assert.deepEqual(inv.nics.map((n) => n.mac), ['52:54:00:65:43:21']);
  assert.deepEqual(inv.raidControllers, []);
  assert.equal(inv.bootMode, 'uefi');
  assert.equal(summarizeInventory(inv).text.cpus, '2×2c/4t');
});
