// `npm run bench:boot`: seconds from VM start to the machine's inventory in etcd, for a BIOS machine
// (SeaBIOS + iPXE ROM) and a UEFI machine (OVMF PXE → ipxe.efi over TFTP), each booted alone in the
// lab (lab/provisioning.ts: a real seed with DHCP, TFTP and HTTP in a network namespace), then both at
// once; plus the agent ramdisk's size. The inventory time is when an etcd watch on the inventory prefix
// (inside the lab) saw the put. KVM when usable, TCG otherwise (printed). Goal (issue 5): ≤ 15 s with KVM.
// BENCH_RUNS=N repeats each single-machine boot (median reported).
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { gatherBootAssets } from '../boot/assets/gather.ts';
import { lpmosCacheDir } from '../boot/cache.ts';
import { buildRamdisk } from '../boot/ramdisk/build.ts';
import { detectAccel } from '../lab/accel.ts';
import { MilestoneWatch } from '../lab/milestones.ts';
import { ProvisioningLab } from '../lab/provisioning.ts';
import type { Firmware } from '../lab/qemu.ts';
import type { Vm, VmDefinition } from '../lab/vm.ts';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 1));
const ROOT = new URL('..', import.meta.url).pathname;
const GiB = 2 ** 30;
const TIMEOUT_MS = 10 * 60_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

let serial = 0;
function machine(firmware: Firmware): VmDefinition {
  serial++;
  const n = serial.toString(16).padStart(2, '0');
  return {
    name: `bench-${firmware}-${n}`, firmware, memoryMiB: 1024, cpus: 1, mac: `52:54:00:be:0${firmware === 'bios' ? 1 : 2}:${n}`,
    disks: [{ sizeBytes: 2 * GiB }, { sizeBytes: 1 * GiB }],
  };
}

/** Milestones (seconds after VM start, from the serial console) of every boot, printed at the end. */
const timelines: string[] = [];

/** Boots the given machines at once; returns seconds from each VM's start to its inventory put. */
async function boot(lab: ProvisioningLab, firmwares: Firmware[]): Promise<number[]> {
  const vms: Vm[] = [];
  for (const f of firmwares) vms.push(await lab.addVm(machine(f)));
  const seen = lab.inventoryEvents.length;
  const watches: MilestoneWatch[] = [];
  for (const vm of vms) {
    vm.start();
    watches.push(new MilestoneWatch(vm));
  }
  try {
    await lab.waitInventories(new Set(lab.inventoryEvents.map((e) => e.id)).size + vms.length, TIMEOUT_MS, undefined, async () => {
      for (const vm of vms) if (!vm.running) throw new Error(`${vm.spec.name}: QEMU exited\n${vm.qemuOutput()}\n${await vm.serialTail()}`);
    });
  } catch (e) {
    const tails = await Promise.all(vms.map(async (vm) => `--- ${vm.spec.name} ---\n${await vm.serialTail(30)}`));
    throw new Error(`${(e as Error).message}\n${tails.join('\n')}\n--- seed ---\n${lab.seedOutput().split('\n').slice(-30).join('\n')}`);
  }
  // Machines enroll by boot MAC: m-<mac without colons> unless the agent was told a name.
  const fresh = lab.inventoryEvents.slice(seen);
  const times = vms.map((vm) => {
    const id = fresh.find((e) => e.id.includes(vm.spec.mac.replaceAll(':', '')))?.id ?? fresh[vms.indexOf(vm)]?.id;
    const ev = fresh.find((e) => e.id === id);
    return ev ? (ev.at - vm.startedAt) / 1000 : NaN;
  });
  for (const [i, w] of watches.entries()) {
    await w.stop();
    timelines.push(`  ${vms[i]!.spec.firmware}${vms.length > 1 ? ' (both at once)' : ''}: ${w.summary()}, inventory in etcd ${times[i]!.toFixed(0)}`);
  }
  await Promise.all(vms.map((vm) => vm.destroy()));
  return times;
}

// The host may be shared: its load at the start says how far these numbers are from an idle machine.
const load = loadavg();
const accel = await detectAccel();
const [ramdisk, assetsDir] = await Promise.all([
  buildRamdisk(),
  (async () => {
    const dir = join(lpmosCacheDir(), 'boot-assets');
    await gatherBootAssets({ outDir: dir });
    return dir;
  })(),
]);
const lab = await ProvisioningLab.start({ root: ROOT, tftpRoot: assetsDir, artifacts: [ramdisk.dir, assetsDir], accel: accel.accel, suffix: 'bench' });
const onSignal = (): void => {
  void lab.stop().finally(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
try {
  const single: Record<Firmware, number[]> = { bios: [], uefi: [] };
  for (let r = 0; r < RUNS; r++) {
    for (const f of ['bios', 'uefi'] as const) {
      const [s] = await boot(lab, [f]);
      single[f].push(s!);
      process.stderr.write(`run ${r + 1}/${RUNS} ${f}: ${s!.toFixed(1)} s\n`);
    }
  }
  const both = await boot(lab, ['bios', 'uefi']);
  const m = ramdisk.manifest;
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const lines = [
    `accelerator: ${accel.accel} (${accel.reason}); host: ${cpus().length} CPUs, load average at start ${load.map((l) => l.toFixed(1)).join(' ')}`,
    `ramdisk: initrd.img ${mb(m.initrd.size)} (${m.initrd.compression}) + vmlinuz ${mb(m.kernel.size)} = ${mb(m.initrd.size + m.kernel.size)}; ${m.modules} modules, node ${m.node.version}`,
    `VM start → inventory in etcd, one machine alone (median of ${RUNS}):`,
    `  BIOS (SeaBIOS + iPXE ROM):            ${median(single.bios).toFixed(1)} s`,
    `  UEFI (OVMF PXE → ipxe.efi via TFTP):  ${median(single.uefi).toFixed(1)} s`,
    `both at once: BIOS ${both[0]!.toFixed(1)} s, UEFI ${both[1]!.toFixed(1)} s`,
    'timeline (s after VM start, seen on the serial console):',
    ...timelines,
    accel.accel === 'kvm' ? `goal ≤ 15 s with KVM: ${Math.max(median(single.bios), median(single.uefi)) <= 15 ? 'met' : 'NOT met'}` : 'goal ≤ 15 s applies to KVM; these are TCG (software emulation) numbers',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await lab.stop();
}
