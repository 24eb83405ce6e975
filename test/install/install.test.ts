// End-to-end install (issue 6): real PXE firmware boots the agent ramdisk from a real `lpmos seed` in a
// lab namespace; the seed builds each profile's Debian 12 root once, natively, with debootstrap from its
// apt mirror (pull-through through the lab uplink, cached under ~/.cache/lpmos/mirror; images kept under
// ~/.cache/lpmos/rootfs), the agents unpack it onto the disks they partitioned and configure it for
// themselves, and report progress over the swarm; the seed turns a complete install into `localboot`,
// the agent reboots, the firmware boots the disk, and the installed system's first-boot report makes the
// machine `provisioned`.
//   (a)+(d) BIOS (SeaBIOS + iPXE), one disk, GPT, ext4 root + swap; the agent is killed (SIGKILL, from
//           the ramdisk's serial shell) while the root is unpacked: the ramdisk restarts it and the plan
//           resumes.
//   (c)+(b) UEFI (OVMF), two disks: first a layout too big for them → `failed` with a clear error and the
//           disks untouched (not one block written); then RAID 1 + LVM → installed, /proc/mdstat of the
//           installed system healthy ([UU]).
// Both machines run at once (one TCG vCPU each on a 2-core machine). Everything is removed afterwards.
// `npm run test:install`. (A debootstrap in each TCG machine took > 60 min per machine: dpkg and the
// maintainer scripts under emulation; the seed does it natively in ≈ 3 min.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gatherBootAssets } from '../../boot/assets/gather.ts';
import { lpmosCacheDir } from '../../boot/cache.ts';
import { detectAccel, type AccelChoice } from '../../lab/accel.ts';
import { ProvisioningLab } from '../../lab/provisioning.ts';
import { Vm, type VmDefinition } from '../../lab/vm.ts';
import { readHostSources } from '../../seed/mirror/setting.ts';
import { agentRamdisk } from '../helpers/ramdisk.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const GiB = 2 ** 30;
const MINUTE = 60_000;
/** LPMOS_E2E_INSTALL_MINUTES: the whole run's budget (default 50; a loaded machine may need more). */
const BUDGET = Number(process.env.LPMOS_E2E_INSTALL_MINUTES ?? 50) * MINUTE;

const BIOS: VmDefinition = {
  name: 'inst-bios', firmware: 'bios', memoryMiB: 1536, cpus: 1, mac: '52:54:00:e2:e1:01', shellPort: true,
  disks: [{ sizeBytes: 4 * GiB, format: 'raw' }], smbios: { serial: 'INST-BIOS-01' },
};
const UEFI: VmDefinition = {
  name: 'inst-uefi', firmware: 'uefi', memoryMiB: 1536, cpus: 1, mac: '52:54:00:e2:e1:02',
  disks: [{ sizeBytes: 3 * GiB, format: 'raw' }, { sizeBytes: 3 * GiB, format: 'raw' }], smbios: { serial: 'INST-UEFI-02' },
};
const id = (def: VmDefinition): string => `m-${def.mac.replaceAll(':', '')}`;

const PROFILES = `
kind: Profile
name: e2e-bios
description: (a) BIOS, one disk, GPT, ext4 root and swap
os: { name: debian, version: "12" }
storage:
  partitionTable: gpt
  disks: [{ id: d0, match: { minSize: 3GiB }, wipe: true }]
  partitions:
    - { id: bios, disk: d0, size: 1MiB, type: bios-boot }
    - { id: swap, disk: d0, size: 256MiB, type: swap }
    - { id: root, disk: d0, size: rest }
  filesystems:
    - { device: swap, type: swap }
    - { device: root, type: ext4, mount: / }
---
kind: Profile
name: e2e-raid1-lvm
description: (b) UEFI, two disks in RAID 1, LVM on top
os: { name: debian, version: "12" }
storage:
  partitionTable: gpt
  disks:
    - { id: d0, match: { minSize: 2GiB }, wipe: true }
    - { id: d1, match: { minSize: 2GiB }, wipe: true }
  partitions:
    - { id: esp0, disk: d0, size: 64MiB, type: esp }
    - { id: esp1, disk: d1, size: 64MiB, type: esp }
    - { id: r0, disk: d0, size: rest, type: raid }
    - { id: r1, disk: d1, size: rest, type: raid }
  raid:
    - { id: md0, level: 1, members: [r0, r1] }
  lvm:
    - name: vg0
      pvs: [md0]
      lvs:
        - { name: swap, size: 128MiB }
        - { name: root, size: rest }
  filesystems:
    - { device: esp0, type: vfat, mount: /boot/efi }
    - { device: vg0/root, type: ext4, mount: / }
    - { device: vg0/swap, type: swap }
---
kind: Profile
name: e2e-too-big
description: (c) a root of 40 GiB on disks of 3 GiB
os: { name: debian, version: "12" }
storage:
  partitionTable: gpt
  disks: [{ id: d0, wipe: true }]
  partitions:
    - { id: esp, disk: d0, size: 64MiB, type: esp }
    - { id: root, disk: d0, size: 40GiB }
  filesystems:
    - { device: esp, type: vfat, mount: /boot/efi }
    - { device: root, type: ext4, mount: / }
`;

interface MachineDoc {
  name: string;
  status?: { state?: string; step?: string; progress?: number; lastError?: { code: string; message: string } };
}

let lab: ProvisioningLab | undefined;
let accel: AccelChoice;
const vms = new Map<string, Vm>();

async function diagnostics(): Promise<string> {
  const parts = [`--- seed (tail) ---\n${lab?.seedOutput().split('\n').slice(-30).join('\n') ?? ''}`];
  for (const vm of vms.values()) parts.push(`--- ${vm.spec.name} serial (tail) ---\n${await vm.serialTail(60)}\n--- ${vm.spec.name} qemu ---\n${vm.qemuOutput()}`);
  return parts.join('\n');
}

async function show(name: string): Promise<MachineDoc | undefined> {
  const r = await lab!.cli(['machine', 'show', name, '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as MachineDoc) : undefined;
}

/** Polls `machine show` (every 5 s: TCG guests need the CPU) until `ok`, failing early on `bad`. */
async function waitFor(name: string, what: string, ok: (d: MachineDoc) => boolean, timeoutMs: number, bad?: (d: MachineDoc) => string | undefined): Promise<MachineDoc> {
  const end = Date.now() + timeoutMs;
  let last: MachineDoc | undefined;
  for (;;) {
    last = await show(name);
    if (last && ok(last)) return last;
    const why = last && bad?.(last);
    if (why) throw new Error(`${name}: ${why}\n${JSON.stringify(last?.status)}\n${await diagnostics()}`);
    for (const vm of vms.values()) if (!vm.running) throw new Error(`${vm.spec.name}: QEMU exited\n${await diagnostics()}`);
    if (Date.now() > end) throw new Error(`${name}: not ${what} after ${timeoutMs / 1000} s (status ${JSON.stringify(last?.status)})\n${await diagnostics()}`);
    await sleep(5000);
  }
}

const failed = (d: MachineDoc): string | undefined => (d.status?.state === 'failed' ? `install failed: ${d.status.lastError?.message ?? '?'}` : undefined);

before(async () => {
  const [ramdisk, assetsDir, choice, sources] = await Promise.all([
    agentRamdisk(),
    (async () => {
      const dir = join(lpmosCacheDir(), 'boot-assets');
      await gatherBootAssets({ outDir: dir });
      return dir;
    })(),
    detectAccel(),
    readHostSources(),
  ]);
  accel = choice;
  const hosts = [...new Set(sources.filter((s) => s.uri.startsWith('http://')).map((s) => new URL(s.uri).hostname))];
  lab = await ProvisioningLab.start({
    stopOnSignal: true,
    root: ROOT, tftpRoot: assetsDir, artifacts: [ramdisk.dir, assetsDir], accel: accel.accel, suffix: 'inst', index: 1,
    uplinkHosts: hosts, mirrorDir: join(lpmosCacheDir(), 'mirror'), rootfsDir: join(lpmosCacheDir(), 'rootfs'), seedArgs: ['--http-cmdline', 'lpmos.shell=ttyS1'],
  });
  for (const def of [BIOS, UEFI]) vms.set(def.name, await lab.addVm(def));
  const file = join(lab.workDir, 'profiles.yaml');
  await writeFile(file, PROFILES);
  const r = await lab.cli(['apply', '-f', file]);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  if (!lab) return;
  await lab.stop();
  assert.equal(lab.net.exists(), false, `namespace ${lab.net.ns} still exists after cleanup`);
  assert.equal(existsSync(lab.workDir), false, `${lab.workDir} still exists after cleanup`);
});

test('PXE → agent → Debian 12 (built by the seed) on disk → first boot: BIOS with the agent killed mid-install, UEFI refused then RAID 1 + LVM', { timeout: BUDGET + 5 * MINUTE }, async (t) => {
  assert.ok(lab);
  t.diagnostic(`accelerator: ${accel.accel} (${accel.reason})`);
  const bios = vms.get(BIOS.name)!;
  const uefi = vms.get(UEFI.name)!;
  const t0 = Date.now();
  const at = (): string => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
  // One budget for the whole run (TCG on a shared 2-core machine is slow and its speed varies).
  const left = (): number => Math.max(MINUTE, t0 + BUDGET - Date.now());
  bios.start();
  uefi.start();
  await lab.waitInventories(2, 8 * MINUTE, undefined, async () => {
    for (const vm of vms.values()) if (!vm.running) throw new Error(`${vm.spec.name}: QEMU exited\n${await diagnostics()}`);
  });
  for (const def of [BIOS, UEFI]) await waitFor(id(def), 'inspected', (d) => d.status?.state === 'inspected', 2 * MINUTE);
  t.diagnostic(`both inspected after ${at()}`);

  // (a) starts; (c) on the UEFI machine: refused before anything is written.
  let r = await lab.cli(['machine', 'assign', id(BIOS), '--profile', 'e2e-bios']);
  assert.equal(r.code, 0, r.stderr);
  r = await lab.cli(['machine', 'assign', id(UEFI), '--profile', 'e2e-too-big']);
  assert.equal(r.code, 0, r.stderr);
  const refused = await waitFor(id(UEFI), 'failed', (d) => d.status?.state === 'failed', 5 * MINUTE);
  assert.equal(refused.status?.lastError?.code, 'E_VALIDATION', JSON.stringify(refused.status));
  assert.match(refused.status?.lastError?.message ?? '', /40 ?GiB|does not fit|too small|larger/i, JSON.stringify(refused.status));
  for (const d of uefi.spec.disks) assert.equal(await Vm.allocatedBytes(d.file), 0, `${d.file}: the refused install wrote to the disk`);
  t.diagnostic(`(c) refused after ${at()}: ${refused.status?.lastError?.message}`);

  // (b) on the same machine.
  r = await lab.cli(['machine', 'assign', id(UEFI), '--profile', 'e2e-raid1-lvm']);
  assert.equal(r.code, 0, r.stderr);

  // (d) the BIOS machine's agent dies in the os step, while the root the seed built streams onto its disk
  // (progress ≥ 1 %: the unpack has begun; before it, the seed builds and the agent only waits).
  await waitFor(id(BIOS), 'unpacking its root', (d) => d.status?.state === 'provisioning' && d.status.step === 'os' && (d.status.progress ?? 0) >= 1, left(), failed);
  const killed = await bios.shell('pidof tar >/dev/null && echo unpack-running; kill -9 $(pidof node)', 60_000);
  assert.match(killed, /unpack-running/, 'the root was being unpacked when the agent was killed');
  t.diagnostic(`(d) agent killed during the os step after ${at()}: ${killed.replace(/\s+/g, ' ').slice(-120)}`);
  await bios.waitForSerial(/restarting it in 5 s/, 2 * MINUTE);
  await bios.waitForSerial(/start 2\)/, 3 * MINUTE);

  const provisioned = (d: MachineDoc): boolean => d.status?.state === 'provisioned';
  await Promise.all([
    waitFor(id(BIOS), 'provisioned', provisioned, left(), failed).then(() => t.diagnostic(`(a)+(d) BIOS provisioned after ${at()}`)),
    waitFor(id(UEFI), 'provisioned', provisioned, left(), failed).then(() => t.diagnostic(`(b) UEFI provisioned after ${at()}`)),
  ]);

  // The resumed plan found the steps before the os step done instead of doing them again.
  const logs = await lab.cli(['machine', 'logs', id(BIOS), '-o', 'json']);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /already done/, 'the restarted agent resumed from the checkpoint');
  // Booted from its own disk: the first-boot unit of the installed system printed this on the console.
  const biosBoot = await bios.waitForSerial(/lpmos: first boot of \S+ on (\S+), root on (\S+)/, MINUTE);
  t.diagnostic(`BIOS installed system: kernel ${biosBoot[1]}, root ${biosBoot[2]}`);
  const uefiBoot = await uefi.waitForSerial(/lpmos: first boot of \S+ on (\S+), root on (\S+)/, MINUTE);
  assert.match(uefiBoot[2]!, /vg0-root|mapper/, 'UEFI root is the LVM volume');
  // The serial console ends lines with \r\n (and `.` does not match \r).
  const md = await uefi.waitForSerial(/lpmos: mdstat: (md\d+ : active raid1 [^\r\n]*)\r?\n[^\n]*?\[(U+|U_|_U)\]/, MINUTE);
  t.diagnostic(`(b) installed system /proc/mdstat: ${md[1]} [${md[2]}]`);
  assert.equal(md[2], 'UU', '/proc/mdstat: both halves of the mirror are up');
});
