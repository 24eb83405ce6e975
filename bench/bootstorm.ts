// `npm run bench:bootstorm`: 8 machines PXE-boot the agent at once in the lab (lab/provisioning.ts:
// a real seed with DHCP, TFTP and HTTP in a network namespace, lab index 3 = 10.213.67.0/24), with
// the seed's boot-storm offload on and then off (`--boot-offload on|off`). All must enroll (their
// inventory in etcd). Prints, per mode, how many full copies of the ramdisk (and kernel) the seed sent,
// its ramdisk bytes as copies (whole files and the agents' piece ranges), redirects and 503s, and the
// seconds from the VMs' start until the last one enrolled. Goal: ≤ ⌈log2 8⌉+1 = 4 ramdisk copies
// from the seed with offload on.
// BENCH_VMS (8), BENCH_VM_MIB (1280: the agent keeps the ~105 MB ramdisk in a store of a quarter of
// free memory), BENCH_MODES (on,off), BENCH_TIMEOUT_MIN (45), BENCH_FIRMWARE (bios).
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { gatherBootAssets } from '../boot/assets/gather.ts';
import { lpmosCacheDir } from '../boot/cache.ts';
import { buildRamdisk } from '../boot/ramdisk/build.ts';
import { detectAccel } from '../lab/accel.ts';
import { ProvisioningLab } from '../lab/provisioning.ts';
import type { Firmware } from '../lab/qemu.ts';
import type { Vm } from '../lab/vm.ts';

const N = Math.max(1, Number(process.env.BENCH_VMS ?? 8));
const VM_MIB = Number(process.env.BENCH_VM_MIB ?? 1280);
const MODES = (process.env.BENCH_MODES ?? 'on,off').split(',').filter((m): m is 'on' | 'off' => m === 'on' || m === 'off');
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MIN ?? 45) * 60_000;
const FIRMWARE = (process.env.BENCH_FIRMWARE ?? 'bios') as Firmware;
const ROOT = new URL('..', import.meta.url).pathname;
const GiB = 2 ** 30;
const GOAL = Math.ceil(Math.log2(8)) + 1;

const uptime = (): string => {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${loadavg().map((l) => l.toFixed(2)).join(', ')}`;
  }
};

/** One sample of a Prometheus text exposition: `name{labels} value` (labels matched as a substring). */
function metric(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && line.split(' ')[0] !== name) continue;
    if (labels && !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}

interface Result {
  mode: 'on' | 'off';
  enrolled: number;
  lastS: number;
  firstS: number;
  initrdCopies: number;
  initrdEquivalent: number;
  kernelCopies: number;
  redirects: number;
  busy: number;
  loadStart: string;
  loadEnd: string;
  error?: string;
}

async function storm(mode: 'on' | 'off', ramdiskDir: string, assetsDir: string, initrdSize: number, accel: Awaited<ReturnType<typeof detectAccel>>): Promise<Result> {
  const loadStart = uptime();
  const lab = await ProvisioningLab.start({ root: ROOT, tftpRoot: assetsDir, artifacts: [ramdiskDir, assetsDir], accel: accel.accel, index: 3, suffix: `storm-${mode}`, seedArgs: ['--boot-offload', mode] });
  const onSignal = (): void => {
    void lab.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const vms: Vm[] = [];
  const started = Date.now();
  let error: string | undefined;
  try {
    for (let i = 0; i < N; i++) {
      const n = (i + 1).toString(16).padStart(2, '0');
      vms.push(await lab.addVm({ name: `storm-${mode}-${n}`, firmware: FIRMWARE, memoryMiB: VM_MIB, cpus: 1, mac: `52:54:00:b5:0${mode === 'on' ? 1 : 2}:${n}`, disks: [{ sizeBytes: 1 * GiB }] }));
    }
    for (const vm of vms) vm.start();
    process.stderr.write(`offload ${mode}: ${N} VMs started (${VM_MIB} MiB each, ${accel.accel})\n`);
    const progress = setInterval(() => {
      const m = new Set(lab.inventoryEvents.map((e) => e.id)).size;
      process.stderr.write(`  ${((Date.now() - started) / 1000).toFixed(0)} s: ${m}/${N} enrolled; ${uptime()}\n`);
    }, 60_000);
    try {
      await lab.waitInventories(N, TIMEOUT_MS, undefined, async () => {
        for (const vm of vms) if (!vm.running) throw new Error(`${vm.spec.name}: QEMU exited\n${vm.qemuOutput()}\n${await vm.serialTail()}`);
      });
    } catch (e) {
      error = (e as Error).message.split('\n')[0];
      const tails = await Promise.all(vms.map(async (vm) => `--- ${vm.spec.name} ---\n${await vm.serialTail(15)}`));
      process.stderr.write(`${(e as Error).message}\n${tails.join('\n')}\n--- seed ---\n${lab.seedOutput().split('\n').slice(-40).join('\n')}\n`);
    } finally {
      clearInterval(progress);
    }
    const first = new Map<string, number>();
    for (const e of lab.inventoryEvents) if (!first.has(e.id)) first.set(e.id, e.at);
    const times = [...first.values()].map((t) => (t - started) / 1000).sort((a, b) => a - b);
    const text = (await lab.http('/metrics')).body;
    const r: Result = {
      mode,
      enrolled: times.length,
      firstS: times[0] ?? NaN,
      lastS: times.at(-1) ?? NaN,
      initrdCopies: metric(text, 'lpmos_boot_seed_full_copies_total', 'file="initrd.img"'),
      initrdEquivalent: metric(text, 'lpmos_boot_seed_bytes_total', 'file="initrd.img"') / initrdSize,
      kernelCopies: metric(text, 'lpmos_boot_seed_full_copies_total', 'file="vmlinuz"'),
      redirects: metric(text, 'lpmos_boot_redirects_total', 'file="initrd.img"'),
      busy: metric(text, 'lpmos_boot_busy_total', 'file="initrd.img"'),
      loadStart,
      loadEnd: uptime(),
      ...(error ? { error } : {}),
    };
    process.stderr.write(`${text.split('\n').filter((l) => l.startsWith('lpmos_boot_')).join('\n')}\n`);
    return r;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await lab.stop();
  }
}

const accel = await detectAccel();
const [ramdisk, assetsDir] = await Promise.all([
  buildRamdisk(),
  (async () => {
    const dir = join(lpmosCacheDir(), 'boot-assets');
    await gatherBootAssets({ outDir: dir });
    return dir;
  })(),
]);
const m = ramdisk.manifest;
const results: Result[] = [];
for (const mode of MODES) results.push(await storm(mode, ramdisk.dir, assetsDir, m.initrd.size, accel));
const lines = [
  `accelerator: ${accel.accel} (${accel.reason}); host: ${cpus().length} CPUs; ${N} VMs (${FIRMWARE}, ${VM_MIB} MiB, 1 vCPU) PXE-boot at once`,
  `ramdisk: initrd.img ${(m.initrd.size / 1e6).toFixed(1)} MB + vmlinuz ${(m.kernel.size / 1e6).toFixed(1)} MB`,
  ...results.map((r) =>
    [
      `offload ${r.mode}: ${r.enrolled}/${N} enrolled${r.error ? ` (FAILED: ${r.error})` : ''}; last enrolled ${r.lastS.toFixed(0)} s after start (first ${r.firstS.toFixed(0)} s)`,
      `  seed sent the ramdisk ${r.initrdCopies} times whole (${r.initrdEquivalent.toFixed(2)} copies in bytes, with the agents' piece ranges), the kernel ${r.kernelCopies} times; ${r.redirects} ramdisk redirects to agents, ${r.busy} answered 503`,
      `  load at start: ${r.loadStart}`,
      `  load at end:   ${r.loadEnd}`,
    ].join('\n'),
  ),
];
const on = results.find((r) => r.mode === 'on');
if (on) lines.push(`goal ≤ ${GOAL} ramdisk copies from the seed with offload on: ${on.enrolled === N && on.initrdEquivalent <= GOAL ? 'met' : 'NOT met'} (${on.initrdEquivalent.toFixed(2)} copies in bytes)`);
process.stdout.write(`${lines.join('\n')}\n`);
