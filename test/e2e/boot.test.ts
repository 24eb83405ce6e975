// End-to-end (issue 5, DESIGN §6): real PXE firmware boots into the agent and enrolls.
// The test builds a lab (network namespace, bridge, taps in 10.213.64.0/24), starts a real `lpmos seed`
// in it with DHCP (full), TFTP and HTTP on the bridge, and boots two QEMU machines at the same time:
// SeaBIOS with the iPXE ROM, and OVMF whose own PXE client fetches ipxe.efi over TFTP. Each has two
// virtual disks of different sizes. Both must enroll as `inspected` with an inventory that matches the
// VM (MAC, memory, CPUs, both disks, SMBIOS serial and UUID), visible in `lpmos machine list -o json`.
// Then one is switched to `localboot` and its /boot/ipxe script must boot the disk (BIOS and UEFI).
// Everything is removed afterwards, also on failure. Budget: < 8 min under TCG with a warm ramdisk.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gatherBootAssets } from '../../boot/assets/gather.ts';
import { lpmosCacheDir } from '../../boot/cache.ts';
import { detectAccel, type AccelChoice } from '../../lab/accel.ts';
import { MilestoneWatch } from '../../lab/milestones.ts';
import { ProvisioningLab } from '../../lab/provisioning.ts';
import type { Vm, VmDefinition } from '../../lab/vm.ts';
import { agentRamdisk } from '../helpers/ramdisk.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const GiB = 2 ** 30;
const MiB = 2 ** 20;

const MACHINES: VmDefinition[] = [
  {
    name: 'e2e-bios', firmware: 'bios', memoryMiB: 1024, cpus: 2, mac: '52:54:00:e2:e0:01',
    disks: [{ sizeBytes: 2 * GiB, format: 'raw' }, { sizeBytes: 3 * GiB, format: 'qcow2' }],
    smbios: { serial: 'E2E-BIOS-0001', uuid: '0e2e0001-5eab-4b10-8a05-000000000001' },
  },
  {
    name: 'e2e-uefi', firmware: 'uefi', memoryMiB: 1024, cpus: 1, mac: '52:54:00:e2:e0:02',
    disks: [{ sizeBytes: 4 * GiB, format: 'qcow2' }, { sizeBytes: 1 * GiB, format: 'raw' }],
    smbios: { serial: 'E2E-UEFI-0002', uuid: '0e2e0002-5eab-4b10-8a05-000000000002' },
  },
];

interface MachineDoc {
  name: string;
  macs: string[];
  status?: { state?: string };
  inventory?: {
    serial: string | null;
    uuid: string | null;
    bootMode: 'bios' | 'uefi' | null;
    cpu: { threads: number | null };
    memory: { totalBytes: number | null; installedBytes: number | null };
    disks: { name: string; sizeBytes: number }[];
    nics: { name: string; mac: string | null }[];
  };
}

let lab: ProvisioningLab | undefined;
let accel: AccelChoice;
const vms = new Map<string, Vm>();

function parseJson<T>(what: string, r: { code: number; stdout: string; stderr: string }): T {
  assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function diagnostics(): Promise<string> {
  const parts = [`--- seed (tail) ---\n${lab?.seedOutput().split('\n').slice(-40).join('\n') ?? ''}`];
  for (const vm of vms.values()) parts.push(`--- ${vm.spec.name} serial (tail) ---\n${await vm.serialTail(40)}\n--- ${vm.spec.name} qemu ---\n${vm.qemuOutput()}`);
  return parts.join('\n');
}

before(async () => {
  // Warm caches make these fast: the ramdisk by input hash, boot assets by package version.
  const [ramdisk, assetsDir, choice] = await Promise.all([
    agentRamdisk(),
    (async () => {
      const dir = join(lpmosCacheDir(), 'boot-assets');
      await gatherBootAssets({ outDir: dir });
      return dir;
    })(),
    detectAccel(),
  ]);
  accel = choice;
  lab = await ProvisioningLab.start({
    stopOnSignal: true, root: ROOT, tftpRoot: assetsDir, artifacts: [ramdisk.dir, assetsDir], accel: accel.accel, suffix: 'e2e' });
  for (const def of MACHINES) vms.set(def.name, await lab.addVm(def));
});

after(async () => {
  if (!lab) return;
  await lab.stop();
  // Deleting the namespace killed whatever still ran in it (QEMU, seed, etcd, etcdctl).
  assert.equal(lab.net.exists(), false, `namespace ${lab.net.ns} still exists after cleanup`);
  assert.equal(existsSync(lab.workDir), false, `${lab.workDir} (disks, seed state) still exists after cleanup`);
});

test(`two machines PXE-boot at once (SeaBIOS + iPXE ROM, OVMF PXE) into the agent and enroll as inspected`, { timeout: 7 * 60_000 }, async (t) => {
  assert.ok(lab);
  t.diagnostic(`accelerator: ${accel.accel} (${accel.reason})`);
  const watches = [...vms.values()].map((vm) => {
    vm.start();
    return new MilestoneWatch(vm);
  });
  try {
    await lab.waitInventories(MACHINES.length, 6 * 60_000, undefined, async () => {
      for (const vm of vms.values()) if (!vm.running) throw new Error(`${vm.spec.name}: QEMU exited`);
    });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${await diagnostics()}`);
  } finally {
    for (const w of watches) await w.stop();
  }
  for (const [i, vm] of [...vms.values()].entries()) t.diagnostic(`${vm.spec.name} timeline (s): ${watches[i]!.summary()}`);
  // iPXE on BIOS boots through the ramdisk's stage 0 (the agent keeps the ramdisk it booted from); UEFI
  // gets the ramdisk as its initramfs (this iPXE wraps no file for the EFI stub).
  for (const vm of vms.values()) {
    const serial = await vm.serialText();
    if (vm.spec.firmware === 'bios') assert.match(serial, /lpmos-stage0: unpacked 3 layers of \/lpmos-initrd\.img \(\d+ bytes\); kept for the agent/, `${vm.spec.name}: booted through stage 0`);
    else assert.ok(!serial.includes('lpmos-stage0'), `${vm.spec.name}: no stage 0 on UEFI`);
  }
  for (const e of lab.inventoryEvents) t.diagnostic(`inventory of ${e.id} in etcd after ${((e.at - Math.min(...[...vms.values()].map((v) => v.startedAt))) / 1000).toFixed(1)} s`);

  // The state is written after the inventory: wait (gently) for `inspected` in the operator's own view.
  let listed: MachineDoc[] = [];
  for (let i = 0; i < 30; i++) {
    listed = parseJson<MachineDoc[]>('lpmos machine list -o json', await lab.cli(['machine', 'list', '-o', 'json']));
    if (MACHINES.every((m) => listed.find((d) => d.macs.includes(m.mac))?.status?.state === 'inspected')) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  for (const def of MACHINES) {
    const doc = listed.find((d) => d.macs.includes(def.mac));
    assert.ok(doc, `${def.name} (${def.mac}) is not in machine list: ${JSON.stringify(listed)}`);
    assert.equal(doc.status?.state, 'inspected', `${def.name}: state`);

    const shown: MachineDoc = parseJson<MachineDoc>(`lpmos machine show ${doc.name}`, await lab.cli(['machine', 'show', doc.name, '-o', 'json']));
    const inv: MachineDoc['inventory'] = shown.inventory;
    assert.ok(inv, `${def.name}: no inventory`);
    assert.equal(inv.serial, def.smbios?.serial, `${def.name}: SMBIOS serial`);
    assert.equal(inv.uuid, def.smbios?.uuid, `${def.name}: SMBIOS UUID`);
    assert.equal(inv.bootMode, def.firmware, `${def.name}: boot mode`);
    assert.equal(inv.cpu.threads, def.cpus, `${def.name}: CPU count`);
    assert.equal(inv.memory.installedBytes, def.memoryMiB * MiB, `${def.name}: installed memory (SMBIOS)`);
    assert.ok(inv.memory.totalBytes !== null && inv.memory.totalBytes > 0.7 * def.memoryMiB * MiB && inv.memory.totalBytes <= def.memoryMiB * MiB, `${def.name}: MemTotal ${inv.memory.totalBytes}`);
    assert.ok(inv.nics.some((n) => n.mac === def.mac), `${def.name}: boot NIC ${def.mac} not in ${JSON.stringify(inv.nics)}`);
    // Both virtual disks, with their sizes, and nothing else that looks like a disk (the ramdisk is not one).
    assert.deepEqual(inv.disks.map((d) => d.sizeBytes).sort((a, b) => a - b), def.disks.map((d) => d.sizeBytes).sort((a, b) => a - b), `${def.name}: disks ${JSON.stringify(inv.disks)}`);
  }
});

test('a machine switched to localboot gets a boot script that boots its disk (BIOS and UEFI)', async () => {
  assert.ok(lab);
  const def = MACHINES[0]!;
  const listed = parseJson<MachineDoc[]>('lpmos machine list -o json', await lab.cli(['machine', 'list', '-o', 'json']));
  const doc = listed.find((d) => d.macs.includes(def.mac));
  assert.ok(doc, `${def.name} not enrolled`);
  const q = (platform: string) => `/boot/ipxe?mac=${encodeURIComponent(def.mac)}&uuid=${def.smbios?.uuid}&serial=${def.smbios?.serial}&arch=x86_64&platform=${platform}`;

  // Before: the agent (the machine is inspected and waits).
  const before = await lab.http(q('pcbios'));
  assert.equal(before.status, 200, before.body);
  assert.match(before.body, /^#!ipxe/);
  assert.match(before.body, /^kernel /m, `not the agent script:\n${before.body}`);

  const assign = await lab.cli(['machine', 'assign', doc.name, '--action', 'localboot']);
  assert.equal(assign.code, 0, assign.stderr);

  const bios = await lab.http(q('pcbios'));
  assert.equal(bios.status, 200, bios.body);
  assert.match(bios.body, /^#!ipxe/);
  assert.match(bios.body, /^sanboot --no-describe --drive 0x80\b/m, `BIOS localboot script:\n${bios.body}`);
  assert.doesNotMatch(bios.body, /^(kernel|initrd|chain) /m);

  const efi = await lab.http(q('efi'));
  assert.equal(efi.status, 200, efi.body);
  assert.match(efi.body, /^#!ipxe/);
  // UEFI: iPXE exits to the firmware, which boots the next entry of its boot order: the disk.
  assert.match(efi.body, /^exit\b/m, `UEFI localboot script:\n${efi.body}`);
  assert.doesNotMatch(efi.body, /^(kernel|initrd|chain|sanboot) /m);
});
