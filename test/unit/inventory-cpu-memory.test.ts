import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLscpu, lscpuFields } from '../../agent/inventory/parse-lscpu.ts';
import { parseMeminfo } from '../../agent/inventory/parse-meminfo.ts';
import { parseDetectVirt } from '../../agent/inventory/parse-detect-virt.ts';
import { chooseVirt, virtFromDmi, virtFromLscpu } from '../../agent/inventory/virt-fallback.ts';
import { fixture } from './inventory-fixture.ts';

test('lscpu -J of this KVM guest: 1 socket, 2 cores, 2 threads', () => {
  assert.deepEqual(parseLscpu(fixture('lscpu/local-kvm-epyc-2cpu.json')), {
    model: 'AMD EPYC', vendor: 'AuthenticAMD', arch: 'x86_64', sockets: 1, cores: 2, threads: 2,
  });
});

test('lscpu text, nested layout of util-linux >= 2.37: a 2-socket Xeon with hyper-threading', () => {
  const cpu = parseLscpu(fixture('lscpu/scaleway-2socket-e5-2620v3.txt'));
  assert.deepEqual(cpu, {
    model: 'Intel(R) Xeon(R) CPU E5-2620 v3 @ 2.40GHz', vendor: 'GenuineIntel', arch: 'x86_64', sockets: 2, cores: 12, threads: 24,
  });
});

test('lscpu text, older flat layout', () => {
  const cpu = parseLscpu(fixture('lscpu/ipa-xeon-e5-2609-flat.txt'));
  assert.equal(cpu.model, 'Intel(R) Xeon(R) CPU E5-2609 0 @ 2.40GHz');
  assert.equal(cpu.sockets, 1);
  assert.equal(cpu.cores, 4);
  assert.equal(cpu.threads, 4);
});

test('lscpu -J nested children are flattened; wrapped Flags lines do not leak into other fields', () => {
  // util-linux >= 2.37 JSON: the same nesting as the text layout above, written as `children`.
  const json = JSON.stringify({ lscpu: [
    { field: 'Architecture:', data: 'x86_64', children: [{ field: 'Byte Order:', data: 'Little Endian' }] },
    { field: 'CPU(s):', data: '24' },
    { field: 'Vendor ID:', data: 'GenuineIntel', children: [{ field: 'Model name:', data: 'Xeon', children: [
      { field: 'Thread(s) per core:', data: '2' }, { field: 'Core(s) per socket:', data: '6' }, { field: 'Socket(s):', data: '2' }] }] },
  ] });
  assert.deepEqual(parseLscpu(json), { model: 'Xeon', vendor: 'GenuineIntel', arch: 'x86_64', sockets: 2, cores: 12, threads: 24 });
  const text = lscpuFields(fixture('lscpu/scaleway-2socket-e5-2620v3.txt'));
  assert.equal(text.get('Socket(s)'), '2');
  assert.equal(text.get('NUMA node(s)'), '2');
});

test('lscpu without topology lines (ARM, s390 print "-") leaves sockets and cores unknown', () => {
  const cpu = parseLscpu('Architecture: aarch64\nCPU(s): 8\nSocket(s): -\nCore(s) per cluster: 4\n');
  assert.deepEqual(cpu, { model: null, vendor: null, arch: 'aarch64', sockets: null, cores: null, threads: 8 });
});

test('/proc/meminfo MemTotal in bytes (kB are KiB)', () => {
  assert.equal(parseMeminfo(fixture('meminfo/local-24g.txt')), 24684092 * 1024);
  assert.equal(parseMeminfo(fixture('meminfo/hp-dl380-gen9-128g.txt')), 131889124 * 1024);
  assert.equal(parseMeminfo('MemFree: 1 kB\n'), null);
});

test('systemd-detect-virt: first identifier, "none" kept, garbage rejected', () => {
  assert.equal(parseDetectVirt(fixture('virt/local-vm.txt')), 'kvm');
  assert.equal(parseDetectVirt(fixture('virt/local-container.txt')), 'docker');
  assert.equal(parseDetectVirt('none\n'), 'none');
  assert.equal(parseDetectVirt(''), null);
  assert.equal(parseDetectVirt('Failed to check for virtualization: Permission denied\n'), null);
});

test('virtualization without systemd-detect-virt: CPUID hypervisor vendor from lscpu, then SMBIOS', () => {
  assert.equal(virtFromLscpu(fixture('lscpu/local-kvm-epyc-2cpu.json')), 'kvm');
  assert.equal(virtFromLscpu(fixture('lscpu/ipa-xeon-e5-2609-flat.txt')), null, 'no Flags line captured: cannot tell');
  assert.equal(virtFromLscpu(fixture('lscpu/scaleway-2socket-e5-2620v3.txt')), 'none', 'bare metal: no hypervisor flag');
  assert.equal(virtFromDmi('QEMU', 'Standard PC (Q35 + ICH9, 2009)'), 'qemu');
  assert.equal(virtFromDmi('Dell Inc.', 'PowerEdge R310'), null);
  assert.equal(chooseVirt('kvm', 'none', null), 'kvm', 'systemd-detect-virt wins');
  assert.equal(chooseVirt(null, 'kvm', 'qemu'), 'kvm');
  assert.equal(chooseVirt(null, 'vm-other', 'qemu'), 'qemu', 'TCG guests: CPUID has no vendor, SMBIOS says QEMU');
  assert.equal(chooseVirt(null, 'none', null), 'none');
  assert.equal(chooseVirt(null, null, null), null);
});
