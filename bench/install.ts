// `npm run bench:install`: power-on → installed and booted from its own disk (status `provisioned`,
// set by the first-boot report of the installed system), per VM, in the lab (lab/install-run.ts, the
// same run as `lpmos demo`): a seed with DHCP, TFTP, HTTP and the apt mirror in a network namespace;
// Debian 12 minbase + kernel + GRUB (lab/install-plan.ts profiles) on one 3 GiB disk. Prints per-step
// timing from the machine's progress log (`lpmos machine logs -o json`) and the total. Goal (issue 6):
// ≤ 180 s with KVM. KVM when usable, TCG otherwise (printed: TCG numbers are not comparable).
// BENCH_VMS=N machines at once (default 1), BENCH_FIRMWARE=bios|uefi|mixed (default bios),
// BENCH_TIMEOUT_MIN (default 20 with KVM, 90 without). Needs root (network namespace).
// The apt mirror cache (~/.cache/lpmos/mirror) is kept: the first run on a host downloads the
// packages from the Debian archive, later runs serve them from the cache (the figure to compare).
import { readdir, stat } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { lpmosCacheDir } from '../boot/cache.ts';
import { ProgressView } from '../cli/progress-view.ts';
import { detectAccel } from '../lab/accel.ts';
import { InstallRun } from '../lab/install-run.ts';
import { LAB_PROFILES, labMachines, parseFirmware, parseVmCount } from '../lab/install-plan.ts';
import { formatBytes, outcomeDuration, type MachineOutcome, renderStepTimings, stepTimings } from '../lab/install-report.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const GOAL_S = 180;

if (process.getuid?.() !== 0) {
  process.stderr.write('bench:install runs VMs in a network namespace of its own: run it as root (sudo npm run bench:install)\n');
  process.exit(2);
}
const count = parseVmCount(process.env.BENCH_VMS ?? '1', 'BENCH_VMS');
const firmware = parseFirmware(process.env.BENCH_FIRMWARE ?? 'bios', 'BENCH_FIRMWARE');
const accel = await detectAccel();
const timeoutMin = Number(process.env.BENCH_TIMEOUT_MIN ?? (accel.accel === 'kvm' ? 20 : 90));
const fmtLoad = (l: number[]): string => l.map((x) => x.toFixed(1)).join(' ');
const loadStart = loadavg();
const log = (m: string): void => {
  process.stderr.write(`[bench:install] ${m}\n`);
};

/** Bytes of the files under `dir` (the apt mirror cache: what grew during the run came from the archive). */
async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name)).catch(() => undefined))?.size ?? 0;
  }
  return total;
}
const MIRROR = join(lpmosCacheDir(), 'mirror');
const mirrorBefore = await dirBytes(MIRROR);

const stop = new AbortController();
const onSignal = (): void => stop.abort();
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

const machines = labMachines(count, firmware, 'bench');
const view = new ProgressView({ stream: process.stderr, bars: false, throttle: true });
const run = await InstallRun.start({
  root: ROOT, machines, profiles: LAB_PROFILES, accel: accel.accel, index: 2, suffix: 'bench-inst',
  timeoutMs: timeoutMin * 60_000, signal: stop.signal, log,
  onProgress: (row) => view.show(row),
});
try {
  const outcomes = await run.run();
  if (!stop.signal.aborted) await report(outcomes);
  else process.exitCode = 130;
} finally {
  await run.stop();
}

async function report(outcomes: MachineOutcome[]): Promise<void> {
  const loadEnd = loadavg();
  const lines = [
    `accelerator: ${accel.accel} (${accel.reason}); host: ${cpus().length} CPUs, load average at start ${fmtLoad(loadStart)}, at end ${fmtLoad(loadEnd)}`,
    `${count} VM(s) at once, ${firmware}, 1 vCPU and 1.5 GiB each, one 3 GiB disk; profile Debian 12 minbase + kernel + GRUB (no extra packages)`,
  ];
  const grown = (await dirBytes(MIRROR)) - mirrorBefore;
  lines.push(`seed's apt mirror cache ${MIRROR}: ${formatBytes(mirrorBefore)} before, ${grown > 0 ? `${formatBytes(grown)} fetched from the Debian archive during the run (a cold cache: the next run is faster)` : 'nothing new fetched (a warm cache)'}`);
  const totals: number[] = [];
  for (const o of outcomes) {
    const vm = run.vm(o.id);
    const inv = run.lab.inventoryEvents.find((e) => e.id === o.id);
    const total = outcomeDuration(o) / 1000;
    if (o.result === 'provisioned') totals.push(total);
    lines.push('', `${o.id} (${o.firmware}): ${o.result}${o.error ? ` (${o.error})` : ''}`);
    if (vm && inv) lines.push(`  power-on → inventory in etcd      ${((inv.at - vm.startedAt) / 1000).toFixed(1)} s`);
    if (o.inspectedAt !== undefined) lines.push(`  power-on → inspected (assigned)   ${((o.inspectedAt - o.poweredOnAt) / 1000).toFixed(1)} s`);
    const entries = await run.logEntries(o.id);
    const steps = stepTimings(entries);
    lines.push('  install steps (agent clock, `lpmos machine logs -o json`):', renderStepTimings(steps).trimEnd());
    const complete = entries.filter((e) => e.state === 'complete').map((e) => Date.parse(e.time)).at(-1);
    if (complete !== undefined && o.provisionedAt !== undefined) lines.push(`  install complete → provisioned (reboot, boot from disk, first-boot report)  ${((o.provisionedAt - complete) / 1000).toFixed(1)} s`);
    lines.push(`  TOTAL power-on → provisioned      ${total.toFixed(1)} s${o.result === 'provisioned' ? '' : ' (not provisioned)'}`);
    lines.push(`  bytes from seed ${formatBytes(o.bytesFromSeed)}, from peers ${formatBytes(o.bytesFromPeers)}`);
  }
  lines.push('');
  if (!totals.length) lines.push('no machine was provisioned');
  else if (accel.accel === 'kvm') lines.push(`goal ≤ ${GOAL_S} s with KVM: ${Math.max(...totals) <= GOAL_S ? 'met' : 'NOT met'} (slowest ${Math.max(...totals).toFixed(0)} s)`);
  else lines.push(`goal ≤ ${GOAL_S} s applies to KVM; these are TCG (software emulation) numbers, slowest ${Math.max(...totals).toFixed(0)} s`);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (outcomes.some((o) => o.result !== 'provisioned')) {
    process.stderr.write(`${await run.diagnostics(25)}\n`);
    process.exitCode = 1;
  }
}
