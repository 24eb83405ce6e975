// `npm run bench:tftp`: the seed's TFTP server against tftp-hpa's (in.tftpd, run in the foreground
// by this script) in the same run, on loopback, with the same files and the same real clients.
// Runs alternate between the two servers and the median of BENCH_REPS runs is reported, so load
// from other processes hits both sides alike. Every copy is checked by sha256.
//
// Env: BENCH_REPS (default 5), BENCH_FILES (MiB, default "20,100"), BENCH_SETTINGS (comma list of
// setting names to run, default all), BENCH_ENGINE (worker | loop, default the server's), BENCH_FOLLOW_CPU
// (0: the worker does not follow the client's CPU). Needs root (in.tftpd chroots and drops to `nobody`).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../core/log.ts';
import { startTftp } from '../seed/tftp/server.ts';
import { clients, randomFile, run, sha256File, tempDir } from '../test/component/tftp-helpers.ts';

const MiB = 1024 * 1024;
const reps = Number(process.env.BENCH_REPS ?? 5);
const sizes = (process.env.BENCH_FILES ?? '20,100').split(',').map(Number);
const only = process.env.BENCH_SETTINGS?.split(',');
const engine = process.env.BENCH_ENGINE as 'worker' | 'loop' | undefined;
const followCpu = process.env.BENCH_FOLLOW_CPU !== '0';
const settings = Object.keys(clients).filter((s) => !only || only.some((o) => s.includes(o)));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function freePort(): Promise<number> {
  const { createSocket } = await import('node:dgram');
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  s.close();
  return port;
}

async function startHpa(root: string): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  // -L: stay in the foreground; -s: chroot to the root; -u nobody: drop privileges as tftpd-hpa does.
  // Own process group: in.tftpd forks a child per transfer, and the group goes down together.
  const proc = spawn('/usr/sbin/in.tftpd', ['-L', '-s', '-u', 'nobody', '-a', `127.0.0.1:${port}`, root], { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  await new Promise((r) => setTimeout(r, 300));
  if (proc.exitCode !== null) throw new Error(`in.tftpd exited with ${proc.exitCode} (is tftpd-hpa installed, are we root?)`);
  return { port, proc };
}

async function timed(setting: string, port: number, file: string, out: string, sum: string, bytes: number): Promise<number> {
  const [cmd, args] = clients[setting]!(port, file, out);
  const t0 = process.hrtime.bigint();
  const r = await run(cmd, args, 600_000);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.code !== 0) throw new Error(`${setting} on port ${port}: exit ${r.code}: ${r.stderr}`);
  if ((await sha256File(out)) !== sum) throw new Error(`${setting} on port ${port}: wrong sha256 for ${file}`);
  await rm(out);
  return bytes / MiB / seconds;
}

const tmp = await tempDir('bench');
let hpa: ChildProcess | undefined;
const ours = await (async () => {
  const root = join(tmp.dir, 'root');
  await mkdir(root);
  // in.tftpd runs as nobody: the tree must be world-readable.
  await chmod(tmp.dir, 0o755);
  await chmod(root, 0o755);
  const sums = new Map<number, string>();
  for (const size of sizes) {
    sums.set(size, await randomFile(join(root, `f${size}`), size * MiB));
    await chmod(join(root, `f${size}`), 0o644);
  }
  const server = await startTftp({ root, address: '127.0.0.1', port: 0, followCpu, ...(engine ? { engine } : {}) }, { log: silentLogger() });
  return { server, root, sums };
})();

// Ctrl-C or a kill ends the bench with everything it started removed, as a normal end does.
const cleanup = async (): Promise<void> => {
  try {
    if (hpa?.pid) process.kill(-hpa.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  await ours.server.stop();
  await tmp.cleanup();
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void cleanup().finally(() => process.exit(128 + (sig === 'SIGINT' ? 2 : 15)));
  });
}

try {
  const h = await startHpa(ours.root);
  hpa = h.proc;
  const rows: { setting: string; size: number; ours: number; hpa: number }[] = [];
  console.log(`TFTP bench: ${reps} runs per server and setting (median), loopback, files ${sizes.join(', ')} MiB, lpmos engine ${ours.server.config.engine}${followCpu ? '' : ' (not following the client CPU)'}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`${'setting'.padEnd(34)} ${'file'.padStart(7)} ${'lpmos MiB/s'.padStart(12)} ${'tftp-hpa MiB/s'.padStart(15)} ${'ratio'.padStart(7)}`);
  for (const setting of settings) {
    for (const size of sizes) {
      const a: number[] = [];
      const b: number[] = [];
      const sum = ours.sums.get(size)!;
      for (let i = 0; i < reps; i++) {
        // alternate which server goes first, so a burst of outside load does not favour one side
        const order: ['ours' | 'hpa', number][] = i % 2 === 0 ? [['ours', ours.server.port], ['hpa', h.port]] : [['hpa', h.port], ['ours', ours.server.port]];
        for (const [who, port] of order) {
          const v = await timed(setting, port, `f${size}`, join(tmp.dir, 'out'), sum, size * MiB);
          (who === 'ours' ? a : b).push(v);
        }
      }
      const row = { setting, size, ours: median(a), hpa: median(b) };
      rows.push(row);
      console.log(`${setting.padEnd(34)} ${`${size} MiB`.padStart(7)} ${row.ours.toFixed(1).padStart(12)} ${row.hpa.toFixed(1).padStart(15)} ${`${(row.ours / row.hpa).toFixed(2)}x`.padStart(7)}`);
    }
  }
  console.log('');
  const below = rows.filter((r) => r.ours < r.hpa);
  console.log(below.length === 0 ? 'goal ≥ 1.0x tftp-hpa at every setting: met' : `goal ≥ 1.0x tftp-hpa at every setting: NOT met at ${below.map((r) => `${r.setting} ${r.size} MiB (${(r.ours / r.hpa).toFixed(2)}x)`).join('; ')}`);
  for (const size of sizes) {
    const w64 = rows.find((r) => r.size === size && r.setting === 'atftp blksize 1468 windowsize 64');
    const plain = rows.find((r) => r.size === size && r.setting === 'tftp-hpa (no options)');
    if (w64 && plain) {
      const x = w64.ours / plain.ours;
      console.log(`goal windowsize 64 @ blksize 1468 ≥ 3x plain 512-byte (lpmos, ${size} MiB): ${x.toFixed(2)}x — ${x >= 3 ? 'met' : 'NOT met'}`);
    }
  }
  console.log('note: tftp-hpa 5.2 does not implement windowsize (RFC 7440): with it the atftp windowsize settings run lockstep.');
  console.log(`load at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
} finally {
  await cleanup();
}
