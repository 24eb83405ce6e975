// One install run in the lab, shared by `lpmos demo` and `npm run bench:install`: a ProvisioningLab
// (seed + managed etcd + DHCP/TFTP/HTTP + the apt mirror reaching the Debian archive through the lab
// uplink, cached under ~/.cache/lpmos/mirror), the small Debian 12 profiles of install-plan.ts, and
// QEMU machines that PXE-boot the agent. A `lpmos watch -o json` inside the namespace streams every
// status change: a machine that reports its inventory (`inspected`) is assigned its profile, the agent
// installs, the seed sets `localboot`, the machine boots its disk, and the first-boot report makes it
// `provisioned`. stop() removes the namespace, VMs, seed and work dir, also after a failed start.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gatherBootAssets } from '../boot/assets/gather.ts';
import { lpmosCacheDir } from '../boot/cache.ts';
import { buildRamdisk } from '../boot/ramdisk/build.ts';
import type { MachineProgress } from '../cli/commands/watch.ts';
import { readHostSources } from '../seed/mirror/setting.ts';
import type { Accel } from './accel.ts';
import type { LabMachine } from './install-plan.ts';
import { blobBytes, type MachineOutcome, type MachineResult, type TimedEntry } from './install-report.ts';
import { spawnGroup, type LabProcess } from './process.ts';
import { ProvisioningLab } from './provisioning.ts';
import type { Vm } from './vm.ts';

export interface InstallRunOptions {
  /** Project root (bin/lpmos.js). */
  root: string;
  machines: readonly LabMachine[];
  /** Profiles applied before the machines boot (YAML, `lpmos apply -f`). */
  profiles: string;
  accel: Accel;
  /** Which /24 of the lab block 10.213.64.0/20; the e2e tests use 0 and 1. */
  index: number;
  /** Namespace name suffix: lpm-lab-<pid>-<suffix>. */
  suffix: string;
  /** Give up on a machine not provisioned this long after its power-on. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Phase messages for people (building the ramdisk, seed up, …). */
  log?: (message: string) => void;
  /** Every status change of a lab machine, as `lpmos watch -o json` reports it. */
  onProgress?: (row: MachineProgress) => void;
}

/** What a status change means for the run (pure): assign the profile, or the machine is done. */
export type ProgressAction = { kind: 'assign' } | { kind: 'done'; result: MachineResult; error?: string } | undefined;

export function progressAction(row: MachineProgress, assigned: boolean): ProgressAction {
  if (row.state === 'provisioned') return { kind: 'done', result: 'provisioned' };
  if (row.state === 'failed') return { kind: 'done', result: 'failed', ...(row.error ? { error: row.error } : {}) };
  if (!assigned && (row.state === 'inspected' || row.state === 'ready')) return { kind: 'assign' };
  return undefined;
}

/** `lpmos watch -o json` lines (pure): complete lines parsed, the unfinished tail kept for the next chunk. */
export function parseWatchLines(buffer: string): { rows: MachineProgress[]; rest: string } {
  const lines = buffer.split('\n');
  const rest = lines.pop() ?? '';
  const rows: MachineProgress[] = [];
  for (const l of lines) {
    if (!l.trim()) continue;
    try {
      const v = JSON.parse(l) as Partial<MachineProgress>;
      if (typeof v.machine === 'string' && typeof v.state === 'string') rows.push(v as MachineProgress);
    } catch {
      // a log line, not a row
    }
  }
  return { rows, rest };
}

interface Tracked {
  machine: LabMachine;
  vm: Vm;
  assigned: boolean;
  outcome?: MachineOutcome;
  inspectedAt?: number;
}

export class InstallRun {
  readonly lab: ProvisioningLab;
  readonly opts: InstallRunOptions;
  readonly #tracked = new Map<string, Tracked>();
  #watch: LabProcess | undefined;
  #stopped = false;

  private constructor(lab: ProvisioningLab, opts: InstallRunOptions) {
    this.lab = lab;
    this.opts = opts;
  }

  /** Builds (or finds cached) the agent ramdisk and boot assets, starts the lab, creates the VMs, applies the profiles. */
  static async start(opts: InstallRunOptions): Promise<InstallRun> {
    const log = opts.log ?? (() => undefined);
    const t0 = Date.now();
    log('preparing the agent ramdisk and boot assets (cached under ~/.cache/lpmos after the first run)');
    const [ramdisk, assetsDir, sources] = await Promise.all([
      buildRamdisk(opts.signal ? { signal: opts.signal } : {}),
      (async () => {
        const dir = join(lpmosCacheDir(), 'boot-assets');
        await gatherBootAssets({ outDir: dir, ...(opts.signal ? { signal: opts.signal } : {}) });
        return dir;
      })(),
      readHostSources(),
    ]);
    opts.signal?.throwIfAborted();
    const hosts = [...new Set(sources.filter((s) => s.uri.startsWith('http://')).map((s) => new URL(s.uri).hostname))];
    log(`ramdisk and assets ready (${((Date.now() - t0) / 1000).toFixed(0)} s); starting the lab: namespace, seed with its own etcd, apt mirror via ${hosts.join(', ') || '(no http apt source on this host!)'}`);
    const lab = await ProvisioningLab.start({
      root: opts.root, tftpRoot: assetsDir, artifacts: [ramdisk.dir, assetsDir], accel: opts.accel, suffix: opts.suffix, index: opts.index,
      uplinkHosts: hosts, mirrorDir: join(lpmosCacheDir(), 'mirror'), rootfsDir: join(lpmosCacheDir(), 'rootfs'),
    }, opts.signal);
    const run = new InstallRun(lab, opts);
    try {
      for (const m of opts.machines) run.#tracked.set(m.id, { machine: m, vm: await lab.addVm(m.def, opts.signal), assigned: false });
      const file = join(lab.workDir, 'profiles.yaml');
      await writeFile(file, opts.profiles);
      const r = await lab.cli(['apply', '-f', file]);
      if (r.code !== 0) throw new Error(`lpmos apply -f profiles failed: ${r.stderr || r.stdout}`);
      log(`seed at ${lab.seedUrl} in namespace ${lab.net.ns} (${lab.net.addressing.seed}/${lab.net.addressing.prefix}); profiles ${[...new Set(opts.machines.map((m) => m.profile))].join(', ')} applied`);
    } catch (e) {
      await run.stop();
      throw e;
    }
    return run;
  }

  get machines(): LabMachine[] {
    return [...this.#tracked.values()].map((t) => t.machine);
  }

  vm(id: string): Vm | undefined {
    return this.#tracked.get(id)?.vm;
  }

  /** Powers the machines on and follows them until each is provisioned, failed, timed out or the signal aborts. */
  async run(): Promise<MachineOutcome[]> {
    const { signal } = this.opts;
    const log = this.opts.log ?? (() => undefined);
    let buffer = '';
    const onRow = (row: MachineProgress): void => {
      const t = this.#tracked.get(row.machine);
      if (!t || t.outcome) return;
      this.opts.onProgress?.(row);
      if ((row.state === 'inspected' || row.state === 'ready') && t.inspectedAt === undefined) t.inspectedAt = Date.now();
      const a = progressAction(row, t.assigned);
      if (a?.kind === 'assign') {
        t.assigned = true;
        void this.lab.cli(['machine', 'assign', row.machine, '--profile', t.machine.profile]).then((r) => {
          if (r.code !== 0 && !t.outcome) this.#finish(t, 'failed', `machine assign: ${(r.stderr || r.stdout).trim()}`);
        });
      } else if (a?.kind === 'done') {
        this.#finish(t, a.result, a.error);
      }
    };
    const startWatch = (): void => {
      buffer = '';
      this.#watch = spawnGroup([process.execPath, join(this.opts.root, 'bin', 'lpmos.js'), '--state-dir', this.lab.stateDir, 'watch', '-o', 'json'], {
        netns: this.lab.net.ns, cwd: this.opts.root, env: { ...process.env, LPMOS_LOG_FORMAT: 'json' },
      });
      this.#watch.child.stdout?.on('data', (d: Buffer) => {
        const { rows, rest } = parseWatchLines(buffer + d.toString());
        buffer = rest;
        for (const r of rows) onRow(r);
      });
    };
    startWatch();
    for (const t of this.#tracked.values()) t.vm.start();
    log(`${this.#tracked.size} machine(s) powered on: PXE → agent → inventory → profile assigned → Debian 12 installed → reboot from disk → first-boot report`);
    try {
      while ([...this.#tracked.values()].some((t) => !t.outcome)) {
        if (signal?.aborted) {
          for (const t of this.#tracked.values()) if (!t.outcome) this.#finish(t, 'stopped');
          break;
        }
        const now = Date.now();
        for (const t of this.#tracked.values()) {
          if (t.outcome) continue;
          if (!t.vm.running) this.#finish(t, 'qemu exited', t.vm.qemuOutput().trim().split('\n').slice(-2).join(' ') || undefined);
          else if (now - t.vm.startedAt > this.opts.timeoutMs) this.#finish(t, 'timed out', `not provisioned after ${Math.round(this.opts.timeoutMs / 60_000)} min`);
        }
        if (this.#watch && !this.#watch.running && [...this.#tracked.values()].some((t) => !t.outcome)) {
          log(`lpmos watch exited (${this.#watch.output().trim().split('\n').at(-1) ?? ''}); restarting it`);
          await sleep(2000);
          startWatch();
        }
        await sleep(1000);
      }
    } finally {
      await this.#watch?.stop(2000).catch(() => undefined);
      this.#watch = undefined;
    }
    const outcomes = [...this.#tracked.values()].map((t) => t.outcome!);
    if (!signal?.aborted) {
      for (const o of outcomes) {
        const bytes = blobBytes(await this.machineDoc(o.id));
        if (bytes) {
          o.bytesFromSeed = bytes.fromSeed;
          o.bytesFromPeers = bytes.fromPeers;
        }
      }
    }
    return outcomes;
  }

  #finish(t: Tracked, result: MachineResult, error?: string): void {
    const now = Date.now();
    t.outcome = {
      id: t.machine.id, firmware: t.machine.def.firmware, profile: t.machine.profile,
      poweredOnAt: t.vm.startedAt || now, endedAt: now, result,
      ...(t.inspectedAt !== undefined ? { inspectedAt: t.inspectedAt } : {}),
      ...(result === 'provisioned' ? { provisionedAt: now } : {}),
      ...(error ? { error } : {}),
    };
  }

  /** `lpmos machine show ID -o json`, undefined when it fails. */
  async machineDoc(id: string): Promise<unknown> {
    const r = await this.lab.cli(['machine', 'show', id, '-o', 'json']);
    if (r.code !== 0) return undefined;
    try {
      return JSON.parse(r.stdout) as unknown;
    } catch {
      return undefined;
    }
  }

  /** The machine's progress history (`lpmos machine logs ID -o json`); [] when there is none. */
  async logEntries(id: string): Promise<TimedEntry[]> {
    const r = await this.lab.cli(['machine', 'logs', id, '-o', 'json']);
    if (r.code !== 0) return [];
    try {
      const v = JSON.parse(r.stdout) as unknown;
      return Array.isArray(v) ? (v as TimedEntry[]) : [];
    } catch {
      return [];
    }
  }

  /** Serial console tails and the seed's log tail, for a failure report. */
  async diagnostics(lines = 30): Promise<string> {
    const parts = [`--- seed (tail) ---\n${this.lab.seedOutput().split('\n').slice(-lines).join('\n')}`];
    for (const t of this.#tracked.values()) parts.push(`--- ${t.machine.id} (${t.vm.spec.name}) serial (tail) ---\n${await t.vm.serialTail(lines)}`);
    return parts.join('\n');
  }

  /** Stops the watch, VMs, seed and uplink, deletes the namespace and work dir. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#watch?.stop(1000).catch(() => undefined);
    await this.lab.stop();
  }
}
