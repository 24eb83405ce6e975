// installers/chroot-procs.ts: processes left running in the install target's chroot are ended before
// its mounts come down; processes outside it are not touched. A real chroot (busybox copied in with
// the libraries it needs) and real processes. Needs root (chroot).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chrootedPids, endChrootProcesses } from '../../installers/chroot-procs.ts';

const skip = process.getuid?.() !== 0 ? 'needs root (chroot)' : false;
let dir: string;
let root: string;
const started: ChildProcess[] = [];

function exited(c: ChildProcess): Promise<NodeJS.Signals | number | null> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve(c.signalCode ?? c.exitCode);
  return new Promise((r) => c.once('exit', (code, sig) => r(sig ?? code)));
}

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), `lpm-chroot-${process.pid}-`));
  root = join(dir, 'root');
  const busybox = execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
  // busybox and the shared libraries ldd names (absolute paths), at the same paths in the chroot
  const libs = execFileSync('ldd', [busybox], { encoding: 'utf8' }).split('\n').map((l) => /(\/\S+)\s+\(/.exec(l)?.[1]).filter((p): p is string => !!p);
  for (const f of [busybox, ...libs]) {
    mkdirSync(join(root, dirname(f)), { recursive: true });
    copyFileSync(f, join(root, f));
  }
});

after(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('ends the processes chrooted into the target (SIGTERM, SIGKILL for one that ignores it), and no other', { skip }, async () => {
  const busybox = execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
  const polite = spawn('chroot', [root, busybox, 'sleep', '300'], { stdio: 'ignore' });
  // a shell that ignores SIGTERM, as a badly written daemon does
  const stubborn = spawn('chroot', [root, busybox, 'sh', '-c', `trap "" TERM; while :; do ${busybox} sleep 1; done`], { stdio: 'ignore' });
  const outside = spawn(busybox, ['sleep', '300'], { stdio: 'ignore' });
  started.push(polite, stubborn, outside);
  for (let i = 0; i < 50 && (await chrootedPids(root)).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  const inside = await chrootedPids(root);
  assert.ok(inside.includes(polite.pid!) && inside.includes(stubborn.pid!), `chrooted: ${inside.join(' ')}`);
  assert.ok(!inside.includes(outside.pid!), 'a process outside the chroot is not listed');

  const t0 = Date.now();
  const ended = await endChrootProcesses(root, 1000);
  assert.ok(ended.includes(polite.pid!) && ended.includes(stubborn.pid!));
  assert.equal(await exited(polite), 'SIGTERM');
  assert.equal(await exited(stubborn), 'SIGKILL', 'killed after the grace period');
  assert.ok(Date.now() - t0 >= 1000, 'the grace period was given');
  assert.deepEqual(await chrootedPids(root), []);
  assert.equal(outside.exitCode, null, 'the process outside is still running');
  assert.equal(outside.signalCode, null);
  assert.deepEqual(await endChrootProcesses(root, 1000), [], 'nothing left to end');
});
