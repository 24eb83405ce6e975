// One lab machine: its files (virtual disks, sercon file or OVMF variable store, serial log) in a
// directory of its own, and QEMU running in the lab namespace in its own process group. QEMU runs in
// the background, not with -daemonize, which would discard its error output (LAB-NOTES).
import { execFile } from 'node:child_process';
import { copyFile, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Accel } from './accel.ts';
import { spawnGroup, type ExitStatus, type LabProcess } from './process.ts';
import { OVMF_CODE, OVMF_VARS, SERCON_BYTES, qemuArgs, type DiskFormat, type Firmware, type VmSpec } from './qemu.ts';

const execFileP = promisify(execFile);

export interface DiskDefinition {
  sizeBytes: number;
  format?: DiskFormat;
  /** Default `<vm name>-d<index>` truncated to 20 characters. */
  serial?: string;
}

export interface VmDefinition {
  name: string;
  firmware: Firmware;
  memoryMiB: number;
  cpus: number;
  mac: string;
  disks: DiskDefinition[];
  noReboot?: boolean;
  smbios?: { serial?: string; uuid?: string };
  /** A second serial port on a Unix socket (Vm.shell talks to the ramdisk's shell there). */
  shellPort?: boolean;
}

export interface VmPlacement {
  /** Directory for this VM's files (created; removed by destroy()). */
  dir: string;
  /** Namespace QEMU runs in and the tap it opens there. */
  netns: string;
  tap: string;
  accel: Accel;
  qemuBinary?: string;
  ovmfCode?: string;
  ovmfVars?: string;
}

async function createDisk(file: string, format: DiskFormat, sizeBytes: number, signal?: AbortSignal): Promise<void> {
  if (format === 'qcow2') {
    await execFileP('qemu-img', ['create', '-q', '-f', 'qcow2', file, String(sizeBytes)], signal ? { signal } : {});
    return;
  }
  // Sparse raw file: no blocks are allocated until the guest writes.
  const fh = await open(file, 'w');
  try {
    await fh.truncate(sizeBytes);
  } finally {
    await fh.close();
  }
}

export class Vm {
  readonly spec: VmSpec;
  readonly dir: string;
  readonly netns: string;
  readonly #qemu: string;
  #proc: LabProcess | undefined;
  #startedAt = 0;

  private constructor(spec: VmSpec, placement: VmPlacement) {
    this.spec = spec;
    this.dir = placement.dir;
    this.netns = placement.netns;
    this.#qemu = placement.qemuBinary ?? 'qemu-system-x86_64';
  }

  /** Creates the VM's files; QEMU is not started yet. */
  static async create(def: VmDefinition, placement: VmPlacement, signal?: AbortSignal): Promise<Vm> {
    await mkdir(placement.dir, { recursive: true });
    const disks = def.disks.map((d, i) => ({
      file: join(placement.dir, `disk${i}.${d.format ?? 'raw'}`),
      format: d.format ?? 'raw',
      sizeBytes: d.sizeBytes,
      serial: d.serial ?? `${def.name}-d${i}`.slice(0, 20),
    }));
    const spec: VmSpec = {
      name: def.name,
      firmware: def.firmware,
      accel: placement.accel,
      memoryMiB: def.memoryMiB,
      cpus: def.cpus,
      mac: def.mac,
      tap: placement.tap,
      disks,
      serialLog: join(placement.dir, 'serial.log'),
      pidFile: join(placement.dir, 'qemu.pid'),
      ...(def.noReboot ? { noReboot: true } : {}),
      ...(def.shellPort ? { shellSocket: join(placement.dir, 'shell.sock') } : {}),
      ...(def.smbios ? { smbios: { ...def.smbios } } : {}),
    };
    if (def.firmware === 'bios') {
      spec.serconFile = join(placement.dir, 'sercon-port');
      await writeFile(spec.serconFile, SERCON_BYTES);
    } else {
      spec.ovmfCode = placement.ovmfCode ?? OVMF_CODE;
      spec.ovmfVars = join(placement.dir, 'OVMF_VARS.fd');
      await copyFile(placement.ovmfVars ?? OVMF_VARS, spec.ovmfVars);
    }
    qemuArgs(spec); // validates before any disk is written
    for (const d of disks) await createDisk(d.file, d.format, d.sizeBytes, signal);
    await writeFile(spec.serialLog, '');
    return new Vm(spec, placement);
  }

  get args(): string[] {
    return qemuArgs(this.spec);
  }

  get running(): boolean {
    return this.#proc?.running ?? false;
  }

  /** Milliseconds since the epoch when QEMU was started (0 before). */
  get startedAt(): number {
    return this.#startedAt;
  }

  /** Resolves when QEMU exits; undefined before start(). */
  get exited(): Promise<ExitStatus> | undefined {
    return this.#proc?.exited;
  }

  start(): void {
    if (this.#proc) throw new Error(`vm ${this.spec.name} already started`);
    this.#startedAt = Date.now();
    this.#proc = spawnGroup([this.#qemu, ...this.args], { netns: this.netns });
  }

  /** QEMU's own stdout/stderr (errors about devices, taps, firmware files). */
  qemuOutput(): string {
    return this.#proc?.output() ?? '';
  }

  async serialText(): Promise<string> {
    return readFile(this.spec.serialLog, 'latin1').catch(() => '');
  }

  /** The last `lines` lines of the serial console, for failure messages. */
  async serialTail(lines = 40): Promise<string> {
    // eslint-disable-next-line no-control-regex
    const text = (await this.serialText()).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
    return text.split('\n').slice(-lines).join('\n');
  }

  /**
   * Polls the serial log (every `intervalMs`, default 1 s: polling steals CPU from TCG guests) until
   * `pattern` matches; throws when QEMU exits first or the time is up.
   */
  async waitForSerial(pattern: RegExp, timeoutMs: number, signal?: AbortSignal, intervalMs = 1000): Promise<RegExpMatchArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      const m = (await this.serialText()).match(pattern);
      if (m) return m;
      if (!this.running) throw new Error(`vm ${this.spec.name}: QEMU exited before ${pattern} appeared on serial\n${this.qemuOutput()}\n${await this.serialTail()}`);
      if (Date.now() > end) throw new Error(`vm ${this.spec.name}: ${pattern} not on serial after ${timeoutMs} ms\n${await this.serialTail()}`);
      await sleep(intervalMs, undefined, signal ? { signal } : {});
    }
  }

  /**
   * Runs a command in the shell on the VM's second serial port (the ramdisk's lpmos.shell=ttyS1) and
   * returns what it printed. The shell echoes its input, so the end marker is computed by the shell.
   */
  async shell(command: string, timeoutMs = 60_000): Promise<string> {
    const socket = this.spec.shellSocket;
    if (!socket) throw new Error(`vm ${this.spec.name} has no shell port (shellPort: true)`);
    const { connect } = await import('node:net');
    const tag = `LPMOS${Date.now() % 100000}`;
    return new Promise((resolve, reject) => {
      const c = connect(socket);
      let out = '';
      const timer = setTimeout(() => { c.destroy(); reject(new Error(`vm ${this.spec.name}: no answer from the shell to "${command}" in ${timeoutMs} ms:\n${out}`)); }, timeoutMs);
      c.on('data', (d: Buffer) => {
        out += d.toString('latin1');
        const end = out.indexOf(`${tag}-END-2`);
        if (end >= 0) {
          clearTimeout(timer);
          c.destroy();
          resolve(out.slice(0, end));
        }
      });
      c.on('error', (e) => { clearTimeout(timer); reject(e); });
      c.on('connect', () => c.write(`\n${command}; echo ${tag}-END-$((1+1))\n`));
    });
  }

  /** Stops QEMU (its process group). Safe to call more than once or before start(). */
  async stop(graceMs = 3000): Promise<void> {
    await this.#proc?.stop(graceMs);
  }

  /** Stops QEMU and removes the VM's files. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Allocated bytes of a disk file (sparse files use less than their size). */
  static async allocatedBytes(file: string): Promise<number> {
    const st = await stat(file);
    return st.blocks * 512;
  }
}
