// A whole provisioning lab on one host: the network namespace with its bridge (network.ts), a real
// `lpmos seed` inside it serving DHCP (full), TFTP and HTTP on the bridge, an etcd watch on the
// inventory prefix (one long-running etcdctl, so nobody polls etcd), and QEMU machines on taps.
// Used by the end-to-end test, `npm run bench:boot` and the demo. stop() removes everything it made,
// also after a failed start.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Accel } from './accel.ts';
import { LabNetwork, sweepStaleLabs } from './network.ts';
import { spawnGroup, type LabProcess } from './process.ts';
import { Uplink } from './uplink.ts';
import { Vm, type VmDefinition } from './vm.ts';

export interface SeedArgsInput {
  stateDir: string;
  iface: string;
  address: string;
  prefix: number;
  rangeStart: string;
  rangeEnd: string;
  tftpRoot: string;
  httpPort: number;
  artifacts: readonly string[];
  site?: string;
}

/** The `lpmos seed` command line for the lab (pure): every service bound to the bridge only. */
export function seedArgs(i: SeedArgsInput): string[] {
  return [
    'seed',
    '--state-dir', i.stateDir,
    ...(i.site ? ['--site', i.site] : []),
    '--interface', i.iface,
    '--address', i.address,
    '--dhcp', 'full',
    '--dhcp-range', `${i.rangeStart}-${i.rangeEnd}/${i.prefix}`,
    '--tftp-root', i.tftpRoot,
    '--tftp-address', i.address,
    '--http-address', i.address,
    '--http-port', String(i.httpPort),
    '--http-artifacts', i.artifacts.join(','),
  ];
}

/**
 * Keys put, from `etcdctl watch` simple output (`PUT`, key, value per event; `DELETE`, key). `state`
 * carries whether the previous line was `PUT` across chunks of output.
 */
export function watchedKeys(lines: readonly string[], prefix: string, state: { afterPut: boolean } = { afterPut: false }): string[] {
  const keys: string[] = [];
  for (const l of lines) {
    if (state.afterPut && l.startsWith(prefix)) keys.push(l);
    state.afterPut = l === 'PUT';
  }
  return keys;
}

async function removeStaleWorkDirs(): Promise<void> {
  const names = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const n of names) {
    const m = /^lpmos-lab-(\d+)-/.exec(n);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') await rm(join(tmpdir(), n), { recursive: true, force: true });
    }
  }
}

export interface ProvisioningLabOptions {
  /** Project root: bin/lpmos.js is started from here. */
  root: string;
  /** TFTP root with the boot loaders (`lpmos boot assets`). */
  tftpRoot: string;
  /** Directories with artifacts and their manifest.json (boot assets, agent ramdisk). */
  artifacts: string[];
  accel: Accel;
  httpPort?: number;
  /** Which /24 of 10.213.64.0/20 (default 0). */
  index?: number;
  suffix?: string;
  /** Node binary for the seed and CLI (default: this process's). */
  node?: string;
  site?: string;
  prefix?: string;
  /**
   * Package archive hosts the seed's mirror may reach through the lab's uplink (uplink.ts), e.g. the
   * hosts of this machine's apt sources. Without it the lab has no way out.
   */
  uplinkHosts?: readonly string[];
  /** The seed's apt mirror cache (`--mirror-dir`), e.g. under ~/.cache so a second run downloads nothing. */
  mirrorDir?: string;
  /** Where the seed keeps the root images it builds (`--rootfs-dir`), e.g. under ~/.cache: built once per package set. */
  rootfsDir?: string;
  /** Stop the lab on SIGINT/SIGTERM, then re-raise the signal (tests, benchmarks). */
  stopOnSignal?: boolean;
  /** More `lpmos seed` arguments (e.g. `--http-cmdline lpmos.shell=ttyS1`). */
  seedArgs?: readonly string[];
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface InventoryEvent {
  id: string;
  /** Host clock (ms since the epoch) when the watch reported the put. */
  at: number;
}

export class ProvisioningLab {
  readonly net: LabNetwork;
  readonly workDir: string;
  readonly stateDir: string;
  readonly opts: ProvisioningLabOptions;
  readonly vms: Vm[] = [];
  readonly inventoryEvents: InventoryEvent[] = [];
  #seed: LabProcess | undefined;
  #uplink: Uplink | undefined;
  #watch: LabProcess | undefined;
  #stopped = false;
  readonly #unhook: (() => void)[] = [];

  private constructor(net: LabNetwork, workDir: string, opts: ProvisioningLabOptions) {
    this.net = net;
    this.workDir = workDir;
    this.stateDir = join(workDir, 'seed');
    this.opts = opts;
  }

  get httpPort(): number {
    return this.opts.httpPort ?? 8080;
  }

  get seedUrl(): string {
    return `http://${this.net.addressing.seed}:${this.httpPort}`;
  }

  get keyRoot(): string {
    const p = this.opts.prefix ?? '/lpmos/';
    return `${p.endsWith('/') ? p : `${p}/`}${this.opts.site ?? 'default'}/`;
  }

  /** Seed log so far (JSON lines), for failure messages. */
  seedOutput(): string {
    return this.#seed?.output() ?? '';
  }

  static async start(opts: ProvisioningLabOptions, signal?: AbortSignal): Promise<ProvisioningLab> {
    // A run killed hard (SIGKILL) left its namespace and work dir: remove those of dead processes.
    sweepStaleLabs();
    await removeStaleWorkDirs();
    const workDir = await mkdtemp(join(tmpdir(), `lpmos-lab-${process.pid}-`));
    let net: LabNetwork;
    try {
      net = LabNetwork.create({ ...(opts.suffix ? { suffix: opts.suffix } : {}), ...(opts.index !== undefined ? { index: opts.index } : {}) });
    } catch (e) {
      await rm(workDir, { recursive: true, force: true });
      throw e;
    }
    const lab = new ProvisioningLab(net, workDir, opts);
    // Interrupted (Ctrl-C, the test runner's SIGTERM on a timeout): VMs, seed and namespace go first,
    // then the signal takes its usual course. Off for callers that handle signals themselves (the demo).
    for (const sig of opts.stopOnSignal ? (['SIGINT', 'SIGTERM'] as const) : []) {
      const onSignal = (): void => {
        void lab.stop().finally(() => process.kill(process.pid, sig));
      };
      process.once(sig, onSignal);
      lab.#unhook.push(() => process.removeListener(sig, onSignal));
    }
    try {
      if (opts.uplinkHosts?.length) {
        lab.#uplink = await Uplink.start({ dir: workDir, netns: net.ns, hosts: opts.uplinkHosts, root: opts.root, ...(opts.node ? { node: opts.node } : {}) });
      }
      await lab.#startSeed(signal);
      await lab.#startWatch(signal);
    } catch (e) {
      await lab.stop();
      throw e;
    }
    return lab;
  }

  async #startSeed(signal?: AbortSignal): Promise<void> {
    const a = this.net.addressing;
    await mkdir(this.stateDir, { recursive: true });
    const args = seedArgs({
      stateDir: this.stateDir, iface: this.net.bridge, address: a.seed, prefix: a.prefix, rangeStart: a.rangeStart, rangeEnd: a.rangeEnd,
      tftpRoot: this.opts.tftpRoot, httpPort: this.httpPort, artifacts: this.opts.artifacts, ...(this.opts.site ? { site: this.opts.site } : {}),
    });
    if (this.opts.mirrorDir) args.push('--mirror-dir', this.opts.mirrorDir);
    if (this.opts.rootfsDir) args.push('--rootfs-dir', this.opts.rootfsDir);
    args.push(...(this.opts.seedArgs ?? []));
    this.#seed = spawnGroup([this.opts.node ?? process.execPath, join(this.opts.root, 'bin', 'lpmos.js'), ...args], {
      netns: this.net.ns,
      cwd: this.opts.root,
      env: { ...process.env, LPMOS_LOG_FORMAT: 'json', ...(this.#uplink?.env ?? {}) },
    });
    // Ready = the seed wrote seed.json (after etcd, DHCP, TFTP and HTTP started) and HTTP answers.
    const end = Date.now() + 60_000;
    for (;;) {
      signal?.throwIfAborted();
      if (!this.#seed.running) throw new Error(`lpmos seed exited during start:\n${this.#seed.output()}`);
      const info = await readFile(join(this.stateDir, 'seed.json'), 'utf8').catch(() => undefined);
      if (info !== undefined && (await this.http('/boot.ipxe')).status === 200) return;
      if (Date.now() > end) throw new Error(`lpmos seed not ready after 60 s:\n${this.#seed.output()}`);
      await sleep(500);
    }
  }

  async #seedEndpoints(): Promise<string[]> {
    const info = JSON.parse(await readFile(join(this.stateDir, 'seed.json'), 'utf8')) as { etcd: { endpoints: string[] } };
    return info.etcd.endpoints;
  }

  /** One etcdctl watch on <root>inventory/ inside the namespace: each put is timestamped on arrival. */
  async #startWatch(signal?: AbortSignal): Promise<void> {
    const endpoints = await this.#seedEndpoints();
    const prefix = `${this.keyRoot}inventory/`;
    const proc = spawnGroup(['etcdctl', `--endpoints=${endpoints.join(',')}`, 'watch', '--prefix', prefix], {
      netns: this.net.ns,
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    this.#watch = proc;
    let partial = '';
    const state = { afterPut: false };
    proc.child.stdout?.on('data', (d: Buffer) => {
      const at = Date.now();
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const key of watchedKeys(lines, prefix, state)) this.inventoryEvents.push({ id: key.slice(prefix.length), at });
    });
    // etcdctl prints nothing until the first event: give it a moment, and fail if it died.
    await sleep(500, undefined, signal ? { signal } : {});
    if (!proc.running) throw new Error(`etcdctl watch exited:\n${proc.output()}`);
  }

  /** Runs `lpmos <args>` inside the namespace against this lab's seed. */
  cli(args: readonly string[], timeoutMs = 60_000): Promise<CliResult> {
    const argv = ['ip', 'netns', 'exec', this.net.ns, this.opts.node ?? process.execPath, join(this.opts.root, 'bin', 'lpmos.js'), '--state-dir', this.stateDir, ...args];
    return new Promise((resolve) => {
      execFile(argv[0]!, argv.slice(1), { cwd: this.opts.root, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LPMOS_LOG_FORMAT: 'json' } }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** GET from the seed's HTTP server as a machine on the lab network would (curl inside the namespace). */
  http(path: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
    const argv = ['ip', 'netns', 'exec', this.net.ns, 'curl', '-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), '-w', '\n%{http_code}', `${this.seedUrl}${path}`];
    return new Promise((resolve) => {
      execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs + 2000 }, (_err, stdout) => {
        const at = stdout.lastIndexOf('\n');
        resolve({ status: Number(stdout.slice(at + 1)) || 0, body: at < 0 ? '' : stdout.slice(0, at) });
      });
    });
  }

  /** Creates a VM on a new tap of the lab bridge (not started). */
  async addVm(def: VmDefinition, signal?: AbortSignal): Promise<Vm> {
    const tap = this.net.addTap();
    const vm = await Vm.create(def, { dir: join(this.workDir, 'vms', def.name), netns: this.net.ns, tap, accel: this.opts.accel }, signal);
    this.vms.push(vm);
    return vm;
  }

  /** Waits until the inventory watch saw a put for each of `count` distinct machines (or `ids`). */
  async waitInventories(count: number, timeoutMs: number, signal?: AbortSignal, check?: () => Promise<void>): Promise<InventoryEvent[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      const first = new Map<string, InventoryEvent>();
      for (const e of this.inventoryEvents) if (!first.has(e.id)) first.set(e.id, e);
      if (first.size >= count) return [...first.values()];
      if (!this.#seed?.running) throw new Error(`lpmos seed exited:\n${this.seedOutput()}`);
      if (!this.#watch?.running) throw new Error(`etcdctl watch exited:\n${this.#watch?.output()}`);
      await check?.();
      if (Date.now() > end) throw new Error(`${first.size} of ${count} machines reported inventory within ${timeoutMs} ms`);
      // Gentle: reading a few files and an array every second costs the TCG guests nothing.
      await sleep(1000, undefined, signal ? { signal } : {});
    }
  }

  /** Stops VMs, the watch and the seed (by process group), deletes the namespace and the work dir. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const u of this.#unhook.splice(0)) u();
    await Promise.all(this.vms.map((vm) => vm.stop().catch(() => undefined)));
    await this.#watch?.stop(1000).catch(() => undefined);
    // The seed stops its managed etcd on SIGTERM; the group kill after the grace period catches the rest.
    await this.#seed?.stop(15_000).catch(() => undefined);
    await this.#uplink?.stop().catch(() => undefined);
    this.net.destroy();
    await rm(this.workDir, { recursive: true, force: true });
  }
}
