// lab/qemu.ts: the QEMU command line for BIOS (iPXE ROM, sercon) and UEFI (OVMF, no NIC ROM) machines,
// and lab/network.ts addressing (only 10.213.64.0/20) and stale-namespace selection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qemuArgs, type VmSpec } from '../../lab/qemu.ts';
import { inBlock, labAddressing, staleLabNamespaces } from '../../lab/network.ts';

const GiB = 2 ** 30;
const base: VmSpec = {
  name: 'bios-1', firmware: 'bios', accel: 'tcg', memoryMiB: 1024, cpus: 2, mac: '52:54:00:12:34:56', tap: 'tap0',
  disks: [
    { file: '/t/d0.qcow2', format: 'qcow2', sizeBytes: 8 * GiB, serial: 'bios-1-d0' },
    { file: '/t/d1.raw', format: 'raw', sizeBytes: 3 * GiB, serial: 'bios-1-d1' },
  ],
  serialLog: '/t/serial.log', serconFile: '/t/sercon', pidFile: '/t/qemu.pid',
};
const uefi: VmSpec = { ...base, name: 'uefi-1', firmware: 'uefi', serconFile: undefined, ovmfCode: '/fw/OVMF_CODE.fd', ovmfVars: '/t/OVMF_VARS.fd' } as VmSpec;

/** The value following each occurrence of `flag`. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

test('BIOS: sercon fw_cfg, virtio-net with the default ROM, first in boot order; no pflash', () => {
  const a = qemuArgs(base);
  assert.deepEqual(values(a, '-fw_cfg'), ['name=etc/sercon-port,file=/t/sercon']);
  const nic = values(a, '-device').find((d) => d.startsWith('virtio-net-pci'));
  assert.equal(nic, 'virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,bootindex=1');
  assert.ok(!a.some((x) => x.includes('pflash')));
  assert.deepEqual(values(a, '-netdev'), ['tap,id=net0,ifname=tap0,script=no,downscript=no']);
});

test('UEFI: OVMF code read-only and the VM\'s own vars, NIC without option ROM, no sercon', () => {
  const a = qemuArgs(uefi);
  assert.deepEqual(values(a, '-drive').filter((d) => d.startsWith('if=pflash')), [
    'if=pflash,format=raw,unit=0,readonly=on,file=/fw/OVMF_CODE.fd',
    'if=pflash,format=raw,unit=1,file=/t/OVMF_VARS.fd',
  ]);
  assert.ok(values(a, '-device').includes('virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,bootindex=1,romfile='));
  assert.deepEqual(values(a, '-fw_cfg'), []);
});

test('two disks with their formats and serials, memory, CPUs, serial to a file, no display, no daemonize', () => {
  const a = qemuArgs(base);
  assert.deepEqual(values(a, '-drive'), [
    'file=/t/d0.qcow2,format=qcow2,if=none,id=disk0,cache=unsafe,discard=unmap',
    'file=/t/d1.raw,format=raw,if=none,id=disk1,cache=unsafe,discard=unmap',
  ]);
  assert.deepEqual(values(a, '-device').filter((d) => d.startsWith('virtio-blk')), [
    // After the NIC (bootindex 1): OVMF drops boot options for devices QEMU's boot order does not name.
    'virtio-blk-pci,drive=disk0,serial=bios-1-d0,bootindex=2',
    'virtio-blk-pci,drive=disk1,serial=bios-1-d1,bootindex=3',
  ]);
  assert.deepEqual(values(a, '-m'), ['1024']);
  assert.deepEqual(values(a, '-smp'), ['2']);
  assert.deepEqual(values(a, '-serial'), ['file:/t/serial.log']);
  assert.deepEqual(values(a, '-display'), ['none']);
  assert.deepEqual(values(a, '-pidfile'), ['/t/qemu.pid']);
  assert.ok(a.includes('-nodefaults'));
  assert.ok(!a.includes('-daemonize'));
  assert.ok(!a.includes('-no-reboot'));
  assert.ok(qemuArgs({ ...base, noReboot: true }).includes('-no-reboot'));
});

test('SMBIOS identity: -uuid and a type 1 serial', () => {
  const a = qemuArgs({ ...base, smbios: { serial: 'LAB-0001', uuid: '8f1d3c3e-6a3e-4c55-9a43-1b2f3c4d5e6f' } });
  assert.deepEqual(values(a, '-uuid'), ['8f1d3c3e-6a3e-4c55-9a43-1b2f3c4d5e6f']);
  assert.deepEqual(values(a, '-smbios'), ['type=1,serial=LAB-0001']);
  assert.throws(() => qemuArgs({ ...base, smbios: { serial: 'a,b' } }), /smbios serial/);
  assert.throws(() => qemuArgs({ ...base, smbios: { uuid: 'not-a-uuid' } }), /smbios uuid/);
  assert.deepEqual(values(qemuArgs(base), '-smbios'), []);
});

test('accelerator: TCG with the max CPU model, KVM with the host CPU', () => {
  assert.deepEqual([values(qemuArgs(base), '-accel'), values(qemuArgs(base), '-cpu')], [['tcg,thread=multi'], ['max']]);
  const k = qemuArgs({ ...base, accel: 'kvm' });
  assert.deepEqual([values(k, '-accel'), values(k, '-cpu')], [['kvm'], ['host']]);
});

test('bad specs are refused with the field named', () => {
  const bad: [Partial<VmSpec>, RegExp][] = [
    [{ mac: '52:54:00:12:34' }, /mac/],
    [{ mac: '52:54:00:12:34:5G' }, /mac/],
    [{ mac: '01:00:5e:00:00:01' }, /multicast/],
    [{ memoryMiB: 16 }, /memoryMiB/],
    [{ cpus: 0 }, /cpus/],
    [{ tap: 'a-very-long-tap-name' }, /tap/],
    [{ serconFile: undefined }, /serconFile/],
    [{ serialLog: '/t/a,b.log' }, /commas/],
    [{ disks: [{ file: '/t/x', format: 'raw', sizeBytes: 1000, serial: 'x' }] }, /multiple of 512/],
    [{ disks: [{ file: '/t/x', format: 'raw', sizeBytes: 512, serial: 'a'.repeat(21) }] }, /serial/],
    [{ name: 'bad name' }, /name/],
  ];
  for (const [change, msg] of bad) assert.throws(() => qemuArgs({ ...base, ...change }), msg, JSON.stringify(change));
  assert.throws(() => qemuArgs({ ...uefi, ovmfVars: undefined } as VmSpec), /ovmfCode and ovmfVars/);
});

test('lab addressing stays inside 10.213.64.0/20', () => {
  assert.deepEqual(labAddressing(), { seed: '10.213.64.1', prefix: 24, rangeStart: '10.213.64.100', rangeEnd: '10.213.64.199' });
  assert.equal(labAddressing(15).seed, '10.213.79.1');
  assert.throws(() => labAddressing(16), /0-15/);
  assert.throws(() => labAddressing(-1), /0-15/);
  assert.equal(inBlock('10.213.79.255', '10.213.64.0', 20), true);
  assert.equal(inBlock('10.213.80.0', '10.213.64.0', 20), false);
  assert.equal(inBlock('10.213.63.255', '10.213.64.0', 20), false);
});

test('stale lab namespaces: only lpm-lab-<pid>- names of dead processes, never this one', () => {
  const names = [`lpm-lab-${process.pid}-net`, 'lpm-lab-111-net', 'lpm-lab-222-x', 'lpm-dhcp-111-a', 'other', 'lpm-lab-abc-net'];
  const alive = (pid: number) => pid === 222;
  assert.deepEqual(staleLabNamespaces(names, alive), ['lpm-lab-111-net']);
});
