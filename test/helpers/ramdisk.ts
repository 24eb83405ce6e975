// The agent ramdisk for tests: built once and cached under ~/.cache/lpmos/ramdisk (keyed by the hash of every
// input, see boot/ramdisk/build.ts), so every test file and the e2e tests reuse it; plus a QEMU runner that
// boots it directly (-kernel/-initrd, TCG, no firmware) with the serial console on a pipe and in a file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRamdisk, type RamdiskResult } from '../../boot/ramdisk/build.ts';
import { lpmosCacheDir } from '../../boot/cache.ts';
import { createLogger, silentLogger, type Logger } from '../../core/log.ts';

const testLog = (): Logger => (process.env.LPMOS_TEST_VERBOSE ? createLogger({ name: 'ramdisk', format: 'pretty' }) : silentLogger());

/** The ramdisk with the real agent (agent/main.ts), for end-to-end tests. */
export function agentRamdisk(log: Logger = testLog()): Promise<RamdiskResult> {
  return buildRamdisk({ log });
}

/**
 * A stand-in agent that reports what the ramdisk offers, one `LPMOS-TEST k=v` line each, then exits with
 * status 3 so that the init's failure path (error message, console shell) runs too.
 */
export const PROBE_AGENT = `// Probe agent for the ramdisk test (test/helpers/ramdisk.ts).
import { execFileSync } from 'node:child_process';
const sh = (cmd: string): string => {
  try {
    return execFileSync('sh', ['-c', cmd + ' 2>&1'], { encoding: 'utf8' }).trim().replaceAll('\\n', ' | ');
  } catch (e) {
    return 'ERR ' + (e as Error).message.split('\\n')[0];
  }
};
console.log('LPMOS-TEST-AGENT-START argv=' + JSON.stringify(process.argv.slice(2)) + ' site=' + process.env.LPMOS_SITE + ' iface=' + process.env.LPMOS_IFACE);
console.log('LPMOS-TEST node=' + process.version);
console.log('LPMOS-TEST mdadm=' + sh('mdadm --version'));
console.log('LPMOS-TEST sgdisk=' + sh('sgdisk --version | head -n1'));
console.log('LPMOS-TEST mkfs=' + sh('mkfs.xfs -V; mkfs.ext4 -V 2>&1 | head -n1'));
console.log('LPMOS-TEST addr=' + sh('ip -4 -o addr show'));
console.log('LPMOS-TEST modules=' + sh('cut -d" " -f1 /proc/modules | sort | tr "\\\\n" " "'));
console.log('LPMOS-TEST-AGENT-END');
process.exit(3);
`;

/** The ramdisk with the probe agent; the same base and runtime layers as agentRamdisk(). */
export async function probeRamdisk(log: Logger = testLog()): Promise<RamdiskResult> {
  const dir = join(lpmosCacheDir(), 'ramdisk', 'probe-entry');
  await mkdir(dir, { recursive: true });
  const entry = join(dir, 'main.ts');
  await writeFile(entry, PROBE_AGENT);
  return buildRamdisk({ entry, log });
}

export interface QemuOptions {
  kernel: string;
  initrd: string;
  append: string;
  memoryMB?: number;
  /** MAC of a user-mode NIC with restrict=on (QEMU's built-in DHCP, no traffic leaves the VM); none when absent. */
  mac?: string;
}

export interface QemuVm {
  child: ChildProcess;
  serialLog: string;
  /** Everything the serial console printed so far. */
  output(): string;
  /** Resolves with the first match after `from` (an offset into output()); rejects on timeout or VM exit. */
  waitFor(re: RegExp, timeoutMs: number, from?: number): Promise<RegExpMatchArray>;
  type(text: string): void;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Boots kernel + initrd under TCG (/dev/kvm here is kvm_pvm, which runs no firmware: LAB-NOTES). */
export async function bootQemu(o: QemuOptions): Promise<QemuVm> {
  const dir = await mkdtemp(join(tmpdir(), `lpmos-qemu-${process.pid}-`));
  const serialLog = join(dir, 'serial.log');
  const nic = o.mac ? ['-nic', `user,restrict=on,model=virtio-net-pci,mac=${o.mac}`] : ['-nic', 'none'];
  const args = [
    '-accel', 'tcg', '-cpu', 'max', '-smp', '1', '-m', String(o.memoryMB ?? 1024),
    '-display', 'none', '-monitor', 'none', '-no-reboot',
    '-chardev', `stdio,id=s0,signal=off,logfile=${serialLog}`, '-serial', 'chardev:s0',
    ...nic,
    '-kernel', o.kernel, '-initrd', o.initrd, '-append', o.append,
  ];
  const child = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString('utf8');
    for (const w of waiters) w();
  });
  child.stderr.on('data', (b: Buffer) => { err += b.toString('utf8'); });
  child.on('error', (e) => { err += `\n${e.message} (is qemu-system-x86 installed? scripts/apt-packages.txt)`; });
  child.stdin.on('error', () => { /* the VM may be gone */ });
  const exited = new Promise<number | null>((res) => child.on('close', (code) => {
    for (const w of waiters) w();
    res(code);
  }));
  let gone = false;
  void exited.then(() => { gone = true; });
  return {
    child,
    serialLog,
    output: () => out,
    waitFor(re, timeoutMs, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.slice(from).match(re);
          if (m) {
            done();
            resolve(m);
          } else if (gone || child.exitCode !== null) {
            done();
            reject(new Error(`QEMU exited before ${re} appeared; stderr: ${err.trim().slice(-500)}\n--- serial (tail) ---\n${out.slice(-3000)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timeout (${timeoutMs} ms) waiting for ${re}\n--- serial (tail) ---\n${out.slice(-3000)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    type(text) {
      child.stdin.write(text);
    },
    exited,
    /** Kills the VM if it still runs and removes its temp dir (serial log included). */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
