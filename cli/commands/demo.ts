// `lpmos demo`: the main job of README command 1. As root it runs a whole provisioning lab on this
// host (lab/install-run.ts): a seed with its own etcd, DHCP, TFTP, HTTP and an apt mirror in a network
// namespace, and N QEMU machines that PXE-boot the agent and install Debian 12 from the seed, with a
// live progress bar per machine, ending in a summary table (machine, power-on → provisioned, bytes
// from the seed and from peers, result). Ctrl-C removes the lab. `--no-vms` keeps the first release's
// demo: a seed with sample profiles and machines applied, nothing booted.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { parseObjects, validateDocuments } from '../../core/model/documents.ts';
import { applyDocuments } from '../../core/registry/apply.ts';
import { listMachines } from '../../core/registry/machines.ts';
import { detectAccel, type Accel, type AccelChoice } from '../../lab/accel.ts';
import { InstallRun } from '../../lab/install-run.ts';
import { defaultVmCount, LAB_PROFILES, labMachines, parseFirmware, parseVmCount, type FirmwareChoice } from '../../lab/install-plan.ts';
import { formatDuration, renderSummary, type MachineOutcome } from '../../lab/install-report.ts';
import { renderTable } from '../output.ts';
import { ProgressView } from '../progress-view.ts';
import type { MachineProgress } from './watch.ts';
import { runSeed } from './seed.ts';

const EXAMPLES = new URL('../../examples/', import.meta.url).pathname;
const ROOT = new URL('../..', import.meta.url).pathname;
/** The demo's lab network: 10.213.66.0/24 (the e2e tests use indexes 0 and 1). */
export const DEMO_LAB_INDEX = 2;

export interface DemoFlags {
  /** A count from `--vms N`, false from `--no-vms`, undefined when neither was given. */
  vms?: number | false;
  firmware?: FirmwareChoice;
  timeout?: number;
  exit?: boolean;
}

export type DemoPlan =
  | { mode: 'seed-only'; exit: boolean }
  | { mode: 'lab'; count: number; firmware: FirmwareChoice; timeoutMs: number; exit: boolean };

/** Minutes a machine may take from power-on to provisioned: a TCG install is ~10× slower than KVM. */
export function defaultTimeoutMinutes(accel: Accel): number {
  return accel === 'kvm' ? 20 : 90;
}

/** What the flags ask for (pure): the VM count and firmware default by accelerator; contradictions are usage errors. */
export function planDemo(flags: DemoFlags, accel: Accel): DemoPlan {
  const exit = flags.exit === true;
  if (flags.vms === false) {
    if (flags.firmware !== undefined) throw new LpmosError(ErrorCode.Usage, '--firmware chooses how the demo\'s VMs boot: it does not go with --no-vms');
    if (flags.timeout !== undefined) throw new LpmosError(ErrorCode.Usage, '--timeout applies to the demo\'s VMs: it does not go with --no-vms');
    return { mode: 'seed-only', exit };
  }
  return {
    mode: 'lab',
    count: flags.vms ?? defaultVmCount(accel),
    firmware: flags.firmware ?? 'mixed',
    timeoutMs: (flags.timeout ?? defaultTimeoutMinutes(accel)) * 60_000,
    exit,
  };
}

export function parseTimeoutMinutes(text: string): number {
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > 24 * 60) throw new LpmosError(ErrorCode.Usage, `--timeout "${text}": expected whole minutes from 1 to 1440`);
  return n;
}

/** The message for a user who is not root (network namespaces, bridges and taps need it). */
export const NEEDS_ROOT = 'lpmos demo runs a lab of virtual machines in a network namespace of its own (bridge, taps, DHCP): that needs root.\n'
  + '  Run it as root:  sudo bash scripts/demo.sh   (or: sudo npx lpmos demo)\n'
  + '  Or without VMs:  bash scripts/demo.sh --no-vms   (a seed with sample profiles and machines only)';

async function seedOnlyDemo(cmd: Command, exit: boolean): Promise<void> {
  await runSeed(cmd, async (seed) => {
    for (const f of ['profile-debian12-minimal.yaml', 'machines.yaml']) {
      const path = join(EXAMPLES, f);
      const docs = validateDocuments(parseObjects(await readFile(path, 'utf8'), path), `examples/${f}`);
      for (const r of await applyDocuments(seed.store, seed.keys, docs)) process.stdout.write(`${r.kind.toLowerCase()}/${r.name} ${r.result}\n`);
    }
    const views = await listMachines(seed.store, seed.keys);
    process.stdout.write('\n' + renderTable(views, [
      { header: 'NAME', get: (v) => v.machine.name },
      { header: 'MAC', get: (v) => v.machine.macs.join(',') },
      { header: 'ACTION', get: (v) => v.spec?.action },
      { header: 'PROFILE', get: (v) => v.spec?.profile },
    ]));
    const sd = ` --state-dir ${seed.config.stateDir}`;
    process.stdout.write(`
The seed is running with its own etcd (${seed.etcdEndpoints.join(', ')}), state in ${seed.config.stateDir}.
From another shell in this directory:
  npx lpmos${sd} machine list
  npx lpmos${sd} machine list -o json
  npx lpmos${sd} machine show rack1-node01
  npx lpmos${sd} machine add --mac 52:54:00:13:00:09 --label rack=r1
  npx lpmos${sd} machine assign m-525400130009 --profile debian12-minimal
  npx lpmos${sd} profile show debian12-raid1-lvm
  npx lpmos --help
(If your system Node.js is older than 22, npx still works: the launcher hands over to Node 24 from the setup.)
${exit ? '' : 'Press Ctrl-C to stop the seed.\n'}`);
    if (exit) process.kill(process.pid, 'SIGTERM');
  });
}

/** Bars being drawn: messages go above them instead of through them. */
let activeView: ProgressView | undefined;
const say = (msg: string): void => {
  const line = `\x1b[1m[demo]\x1b[0m ${msg}`;
  if (activeView && process.stdout.isTTY) activeView.log(line);
  else process.stderr.write(`${line}\n`);
};

function header(plan: Extract<DemoPlan, { mode: 'lab' }>, accel: AccelChoice): string {
  const fw = plan.firmware === 'mixed' && plan.count > 1 ? 'BIOS and UEFI alternating' : plan.firmware === 'uefi' ? 'UEFI (OVMF)' : 'BIOS (SeaBIOS + iPXE)';
  const slow = accel.accel === 'tcg' ? ' — software emulation: an expected 15-30 min per machine on a quiet host, far longer on a busy one (--timeout)' : '';
  return `${plan.count} VM(s), ${fw}, Debian 12 minbase + kernel; accelerator ${accel.accel} (${accel.reason})${slow}`;
}

async function labDemo(plan: Extract<DemoPlan, { mode: 'lab' }>, accel: AccelChoice): Promise<void> {
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals === 1) {
      say('stopping: removing the lab (VMs, seed, etcd, namespace); Ctrl-C again to quit at once');
      stop.abort();
    } else {
      // The namespace is deleted by the lab's exit hook, which kills what runs in it.
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let run: InstallRun | undefined;
  let view: ProgressView | undefined;
  let ticker: NodeJS.Timeout | undefined;
  const last = new Map<string, MachineProgress>();
  try {
    say(header(plan, accel));
    const machines = labMachines(plan.count, plan.firmware);
    run = await InstallRun.start({
      root: ROOT, machines, profiles: LAB_PROFILES, accel: accel.accel, index: DEMO_LAB_INDEX, suffix: 'demo',
      timeoutMs: plan.timeoutMs, signal: stop.signal, log: say,
      onProgress: (row) => {
        last.set(row.machine, row);
        view?.show(row);
      },
    });
    const r = run;
    const since = (id: string): string | undefined => {
      const at = r.vm(id)?.startedAt;
      return at ? formatDuration(Date.now() - at) : undefined;
    };
    view = new ProgressView({ throttle: true, extra: (row) => since(row.machine) });
    view.reserve(machines.map((m) => m.id));
    activeView = view;
    for (const m of machines) view.show({ machine: m.id, state: 'powered on', step: m.def.firmware });
    // Refresh the elapsed time on the bars (a terminal only: without bars each change is a line).
    if (process.stdout.isTTY) ticker = setInterval(() => { for (const row of last.values()) view?.show(row); }, 5000);
    const outcomes = await run.run();
    if (ticker) clearInterval(ticker);
    activeView = undefined;
    view.stop();
    view = undefined;
    if (stop.signal.aborted) return;
    process.stdout.write(`\n${renderSummary(outcomes)}`);
    report(outcomes);
    if (outcomes.some((o) => o.result !== 'provisioned')) {
      process.exitCode = 1;
      process.stderr.write(`${await run.diagnostics(25)}\n`);
    }
    if (plan.exit) return;
    const sd = `ip netns exec ${run.lab.net.ns} npx lpmos --state-dir ${run.lab.stateDir}`;
    process.stdout.write(`
The lab stays up: the machines run the Debian they installed. From another shell (as root):
  ${sd} machine list
  ${sd} machine logs ${machines[0]!.id}
  ${sd} watch
Press Ctrl-C to remove the lab.
`);
    await new Promise<void>((resolve) => (stop.signal.aborted ? resolve() : stop.signal.addEventListener('abort', () => resolve(), { once: true })));
  } finally {
    if (ticker) clearInterval(ticker);
    activeView = undefined;
    view?.stop();
    if (run) await run.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (stop.signal.aborted) {
      say('lab removed');
      process.exitCode = 130;
    }
  }
}

/** One line under the table: how many made it, and where the byte counters come from. */
function report(outcomes: readonly MachineOutcome[]): void {
  const ok = outcomes.filter((o) => o.result === 'provisioned').length;
  const noBytes = outcomes.every((o) => o.bytesFromSeed === undefined);
  process.stdout.write(`${ok} of ${outcomes.length} provisioned (duration: power-on → first-boot report from the installed system).${noBytes ? ' Bytes: "-" = the seed recorded no per-machine blob counters.' : ''}\n`);
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a provisioning lab: a seed with its own etcd and VMs that PXE-boot and install Debian 12 (root; --no-vms: seed and sample machines only)')
    .option('--vms <n>', 'how many VMs (default 3 with KVM, 1 without)', (v) => parseVmCount(v))
    .option('--no-vms', 'no lab: a seed with its own etcd and the sample profiles and machines applied')
    .option('--firmware <kind>', 'how the VMs boot: bios, uefi or mixed (alternating; default)', (v) => parseFirmware(v))
    .option('--timeout <minutes>', 'give up on a machine not provisioned this long after power-on (default 20 with KVM, 90 without)', parseTimeoutMinutes)
    .option('--exit', 'exit after the result (default: keep running until Ctrl-C)')
    .action(async (flags: DemoFlags, cmd: Command) => {
      if (flags.vms === false) {
        planDemo(flags, 'tcg');
        await seedOnlyDemo(cmd, flags.exit === true);
        return;
      }
      if (process.getuid?.() !== 0) throw new LpmosError(ErrorCode.Usage, NEEDS_ROOT);
      const accel = await detectAccel();
      const plan = planDemo(flags, accel.accel);
      if (plan.mode === 'lab') await labDemo(plan, accel);
    });
}
