// The fast path's CPU following (seed/tftp/affinity.ts): the worker thread runs on the CPU the
// client's datagrams arrive on while a lock-step transfer runs alone, and on every CPU again after.
// Clients are pinned with taskset(1), so the CPU they send from is known. Needs two CPUs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../core/log.ts';
import { CpuFollower } from '../../seed/tftp/affinity.ts';
import { AF_INET, loadLibc, MSG_DONTWAIT, parseSockaddrIn, SOCK_CLOEXEC, SOCK_DGRAM, sockaddrIn } from '../../seed/tftp/libc.ts';
import { startTftp, type TftpServer } from '../../seed/tftp/server.ts';
import { clients, randomFile, run, sha256File, tempDir } from './tftp-helpers.ts';

/** Cpus_allowed_list of a thread (`self` or a task id of this process). */
function allowed(task = 'thread-self'): string {
  const path = task === 'thread-self' ? '/proc/thread-self/status' : `/proc/self/task/${task}/status`;
  return /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(path, 'utf8'))![1]!;
}

function expand(list: string): number[] {
  return list.split(',').flatMap((r) => {
    const [a, b] = r.split('-').map(Number);
    return Array.from({ length: (b ?? a!) - a! + 1 }, (_, i) => a! + i);
  });
}

const cpus = expand(allowed('thread-self'));
const skip = cpus.length < 2 ? 'needs two CPUs' : false;

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Task ids of this process's worker threads (the TFTP fast path is the only worker here). */
function workerTasks(): string[] {
  return readdirSync('/proc/self/task').filter((t) => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'WorkerThread';
    } catch {
      return false; // ended meanwhile
    }
  });
}

describe('CpuFollower', { skip }, () => {
  test('reports the CPU a datagram came in on, pins the thread there and releases it', async () => {
    const libc = loadLibc();
    const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert.ok(fd >= 0);
    const follower = new CpuFollower();
    const before = allowed();
    try {
      assert.equal(libc.bind(fd, sockaddrIn('127.0.0.1', 0), 16), 0);
      const name = Buffer.alloc(16);
      assert.equal(libc.getsockname(fd, name, new Int32Array([16])), 0);
      const { port } = parseSockaddrIn(name);
      const buf = Buffer.alloc(64);
      for (const cpu of cpus.slice(0, 2)) {
        // The kernel keeps the incoming CPU for connected sockets only (as the transfer sockets are).
        const from = await freePort();
        assert.equal(libc.connect(fd, sockaddrIn('127.0.0.1', from), 16), 0);
        const send = `const s = require('node:dgram').createSocket('udp4'); s.bind(${from}, '127.0.0.1', () => s.send('x', ${port}, '127.0.0.1', (e) => process.exit(e ? 1 : 0)))`;
        const r = await run('taskset', ['-c', String(cpu), process.execPath, '-e', send]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(libc.recv(fd, buf, buf.length, MSG_DONTWAIT), 1);
        assert.equal(follower.incoming(fd), cpu, 'SO_INCOMING_CPU is the sender’s CPU on loopback');
        follower.follow(fd);
        assert.equal(allowed(), String(cpu));
      }
      follower.release();
      assert.equal(allowed(), before);
    } finally {
      follower.release();
      libc.close(fd);
    }
  });
});

describe('the worker follows a lock-step client', { skip }, () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let root: string;
  let sum: string;
  let server: TftpServer;
  let still: TftpServer;

  before(async () => {
    tmp = await tempDir('affinity');
    root = join(tmp.dir, 'root');
    await mkdir(root);
    sum = await randomFile(join(root, 'f8'), 8 * 1024 * 1024);
    // Following applies while the worker waits asleep (an awake wait would keep the client off its CPU).
    server = await startTftp({ root, address: '127.0.0.1', port: 0, spinUs: 0 }, { log: silentLogger() });
    still = await startTftp({ root, address: '127.0.0.1', port: 0, followCpu: false }, { log: silentLogger() });
  });

  after(async () => {
    await server?.stop();
    await still?.stop();
    await tmp?.cleanup();
  });

  /** Runs `client` pinned to `cpu` and returns every CPU list the worker thread had meanwhile. */
  async function watch(s: TftpServer, client: string, cpu: number): Promise<Set<string>> {
    const seen = new Set<string>();
    const out = join(tmp.dir, `out-${cpu}`);
    const [cmd, args] = clients[client]!(s.port, 'f8', out);
    let running = true;
    const poll = (async () => {
      while (running) {
        for (const t of workerTasks()) {
          try {
            seen.add(allowed(t));
          } catch {
            /* thread gone */
          }
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const r = await run('taskset', ['-c', String(cpu), cmd, ...args], 180_000);
    running = false;
    await poll;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(out), sum);
    return seen;
  }

  test('tftp-hpa (lock-step, 512-byte blocks) pinned to each CPU: the worker runs there, and on all CPUs after', async () => {
    const all = allowed();
    for (const cpu of cpus.slice(0, 2)) {
      const seen = await watch(server, 'tftp-hpa (no options)', cpu);
      assert.ok(seen.has(String(cpu)), `worker pinned to CPU ${cpu}; saw ${[...seen].join(' | ')}`);
      for (const s of seen) assert.ok(s === all || s === String(cpu), `only the client's CPU or all CPUs; saw ${s}`);
      await new Promise((r) => setTimeout(r, 50));
      for (const t of workerTasks()) assert.equal(allowed(t), all, 'released when the transfer ended');
    }
  });

  test('windowed transfers and followCpu: false leave the worker on every CPU', async () => {
    const all = allowed();
    assert.deepEqual([...(await watch(server, 'atftp blksize 1468 windowsize 8', cpus[1]!))].filter((s) => s !== all), []);
    assert.deepEqual([...(await watch(still, 'tftp-hpa (no options)', cpus[1]!))].filter((s) => s !== all), []);
  });
});
