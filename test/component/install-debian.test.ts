// The install runner on this machine, on loop devices: real sgdisk, mkfs, debootstrap (Debian 12
// from the host's apt mirror, packages cached under ~/.cache/lpmos/apt-cache), configuration in
// the chroot and GRUB for BIOS and UEFI. Files live on tmpfs (dpkg's fsyncs are most of
// debootstrap's time on a disk). Everything made here (loop devices, mounts, files) is removed in
// `after`, also when a test fails.
//
// Time: debootstrap of this minimal set (kernel, systemd, GRUB, openssh, sudo) takes 7-10 min on
// this loaded 2-core machine, warm, which does not fit the test's 6-minute budget twice. So the
// real debootstrap — stopped half-way, resumed by a new runner, finished — runs once per package
// set and its result is kept as a tarball under ~/.cache/lpmos/install-root/; the install test
// then runs every step for real except that its `os` step unpacks that tarball.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LpmosError } from '../../core/errors.ts';
import { Keys } from '../../core/keys.ts';
import type { Disk } from '../../core/model/inventory.ts';
import type { Profile } from '../../core/model/profile.ts';
import type { Store } from '../../core/store/store.ts';
import { StoreCheckpoint } from '../../installers/checkpoint.ts';
import { LocalExecutor } from '../../installers/executor.ts';
import { debootstrapScript } from '../../installers/debian/debootstrap.ts';
import { install, planInstall, type InstallPlan } from '../../installers/install.ts';
import type { Action, InstallSpec, Step } from '../../installers/plan/types.ts';
import { runPlan, type ProgressEvent } from '../../installers/runner.ts';
import { openStore } from '../../store/connect.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { GiB, biosProfile, checkInstalled, detachLoops, hostMirror, loopDisk, loopSkip, sh, unmountAll } from '../helpers/loop-install.ts';

const name = `lpmos-inst-${process.pid}`;
const work = join(existsSync('/dev/shm') ? '/dev/shm' : '/tmp', name);
const target = join(work, 'target');
const inspect = join(work, 'inspect');
const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lpmos', 'apt-cache');
const keys = new Keys('/lpmos/', `install-${process.pid}`);
const loops: string[] = [];

/** Pids whose command line mentions `text` (the killed debootstrap names its target). */
function processesUsing(text: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(text);
    } catch {
      return false;
    }
  }).map(Number);
}


const spec = (): InstallSpec => ({ machine: 'loop-01', firmware: 'bios', mirror: hostMirror(), target, cacheDir, hostname: 'loop-01', seedUrl: 'http://127.0.0.1:9' });

const rootCache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lpmos', 'install-root');

/** The debootstrap command of a plan, without where it writes: the identity of its result. */
function osKey(plan: InstallPlan): string {
  const os = plan.steps.find((x) => x.id === 'os')!.actions({ uuids: {}, efivars: false });
  const argv = os.flatMap((a) => (a.kind === 'debootstrap' ? [a.suite, a.arch, a.variant, a.components.join(','), a.include.join(','), a.resolve ? debootstrapScript(a.suite) : 'resolved-by-debootstrap'] : []));
  const version = sh('dpkg-query', ['-W', '-f=${Version}', 'debootstrap']);
  return createHash('sha256').update(JSON.stringify([argv, version])).digest('hex').slice(0, 16);
}

interface RootBuild { file: string; built: boolean; abortedMs?: number; resumedMs?: number; events?: ProgressEvent[] }

/**
 * The real `os` step (debootstrap) for this plan, run by the runner into a directory: stopped once
 * when debootstrap is in its second stage (dpkg), then resumed by a new runner on the same
 * checkpoint, then kept as a tarball. Skipped when the tarball of this exact command exists.
 */
async function debootstrapOnce(profile: Profile, store: Store): Promise<RootBuild> {
  const dir = join(work, 'root-build');
  const s = { ...spec(), target: dir, machine: 'root-build' };
  // Only the os step runs: the disk is never touched (and need not exist).
  const disk: Disk = { name: 'none', path: '/dev/lpmos-none', sizeBytes: 4 * GiB, model: null, vendor: null, serial: null, wwn: null, rotational: false, removable: false, transport: null, byPath: null, hctl: null, logicalSectorBytes: 512, physicalSectorBytes: 512 };
  const plan = planInstall(profile, new Map([['d0', disk]]), s);
  const file = join(rootCache, `bookworm-${osKey(plan)}.tar.zst`);
  if (existsSync(file)) return { file, built: false };
  mkdirSync(dir, { recursive: true });
  const steps = plan.steps.filter((x) => x.id === 'os');
  const executor = new LocalExecutor({ target: dir });
  const run = (signal: AbortSignal, onProgress: (e: ProgressEvent) => void) => runPlan({ steps, executor, checkpoint: new StoreCheckpoint(store, keys, 'root-build'), facts: (sig) => executor.facts(plan.layout, sig), onProgress }, signal);
  const ac = new AbortController();
  let t0 = Date.now();
  await assert.rejects(run(ac.signal, (e) => {
    if (e.state === 'progress' && (e.percent ?? 0) >= 50) ac.abort(new Error('agent killed'));
  }), /agent killed/);
  const abortedMs = Date.now() - t0;
  assert.deepEqual(processesUsing(dir), [], 'debootstrap and its dpkg were killed with their process group');
  assert.ok(!existsSync(join(dir, 'var/lib/lpmos/os.done')), 'stopped before debootstrap finished');
  assert.ok(existsSync(join(dir, 'usr/bin/dpkg')), 'half a root is there');
  unmountAll(dir); // debootstrap's own /proc and /sys of the killed run
  const events: ProgressEvent[] = [];
  t0 = Date.now();
  const r = await run(AbortSignal.timeout(30 * 60_000), (e) => events.push(e));
  const resumedMs = Date.now() - t0;
  assert.deepEqual(r.ran, ['os']);
  assert.ok(existsSync(join(dir, 'var/lib/lpmos/os.done')));
  unmountAll(dir);
  mkdirSync(rootCache, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  sh('tar', ['--zstd', '--numeric-owner', '--xattrs', '-C', dir, '-cf', tmp, '.']);
  renameSync(tmp, file);
  rmSync(dir, { recursive: true, force: true });
  return { file, built: true, abortedMs, resumedMs, events };
}

/** The same plan, with the os step unpacking the cached debootstrap result instead of running debootstrap. */
function withCachedOs(plan: InstallPlan, file: string): InstallPlan {
  const unpack = (a: Action): Action => (a.kind === 'debootstrap' ? { kind: 'run', argv: ['tar', '--zstd', '--numeric-owner', '--xattrs', '-C', target, '-xf', file] } : a);
  return { ...plan, steps: plan.steps.map((x): Step => (x.id === 'os' ? { ...x, actions: (f) => x.actions(f).map(unpack) } : x)) };
}


describe('install to a loop disk on this machine', { skip: loopSkip, timeout: 40 * 60_000 }, () => {
  let etcd: TestEtcd;
  let store: Store;
  before(async () => {
    mkdirSync(target, { recursive: true });
    mkdirSync(inspect, { recursive: true });
    mkdirSync(cacheDir, { recursive: true });
    etcd = await TestEtcd.start();
    store = await openStore({ endpoints: etcd.endpoints });
  });
  after(async () => {
    unmountAll(inspect);
    unmountAll(target);
    unmountAll(join(work, 'root-build'));
    detachLoops(loops);
    rmSync(work, { recursive: true, force: true });
    await store?.close();
    await etcd?.stop();
  });

  it('refuses a disk that holds data without wipe: true, naming the disk and what is on it; nothing is written', async () => {
    const d = loopDisk(join(work, 'data.img'), 4 * GiB, loops);
    sh('sgdisk', ['--new=1:1M:+100M', '--new=2:0:0', d.path]);
    sh('partx', ['-u', d.path]);
    sh('mkfs.ext4', ['-q', '-L', 'precious', `${d.path}p2`]);
    const before = sh('sfdisk', ['--json', d.path]);
    const s = { ...spec(), machine: 'loop-data' };
    const plan = planInstall(biosProfile(false), new Map([['d0', d]]), s);
    const events: ProgressEvent[] = [];
    await assert.rejects(install({ store, keys, plan, spec: s, signal: AbortSignal.timeout(60_000), onProgress: (e) => events.push(e) }), (e: unknown) => {
      assert.ok(e instanceof LpmosError && e.code === 'E_VALIDATION', String(e));
      assert.match(e.message, new RegExp(`disk "d0" \\(${d.path}\\) holds data`));
      assert.match(e.message, /gpt partition table/);
      assert.match(e.message, new RegExp(`${d.path}p2: ext4 "precious"`));
      assert.match(e.message, /set "wipe: true" on disk "d0"/);
      return true;
    });
    assert.deepEqual(events.map((e) => `${e.step}:${e.state}`), ['check-disks:start', 'check-disks:failed']);
    assert.equal(sh('sfdisk', ['--json', d.path]), before, 'partition table untouched');
    assert.equal(sh('blkid', ['-p', '-o', 'value', '-s', 'LABEL', `${d.path}p2`]).trim(), 'precious');
  });

  // Timeouts per test: npm test's --test-timeout (10 min) would otherwise apply to each of them.
  it('never touches a disk in use, not even with wipe: true', async () => {
    const d = loopDisk(join(work, 'busy.img'), 2 * GiB, loops);
    sh('sgdisk', ['--new=1:1M:0', d.path]);
    sh('partx', ['-u', d.path]);
    sh('mkfs.ext4', ['-q', `${d.path}p1`]);
    const mnt = join(work, 'busy');
    mkdirSync(mnt);
    sh('mount', [`${d.path}p1`, mnt]);
    try {
      const s = { ...spec(), machine: 'loop-busy' };
      const plan = planInstall(biosProfile(true), new Map([['d0', d]]), s);
      await assert.rejects(install({ store, keys, plan, spec: s, signal: AbortSignal.timeout(60_000) }), new RegExp(`disk "d0" \\(${d.path}\\) is in use: ${d.path}p1 is mounted at ${mnt}`));
      assert.equal(sh('blkid', ['-p', '-o', 'value', '-s', 'TYPE', `${d.path}p1`]).trim(), 'ext4');
    } finally {
      sh('umount', [mnt]);
    }
  });

  it('debootstrap (the os step), killed half-way, resumes and finishes — once per package set, then cached', { timeout: 40 * 60_000 }, async () => {
    const b = await debootstrapOnce(biosProfile(true), store);
    if (!b.built) {
      console.log(`# debootstrap result cached: ${b.file}`);
      return;
    }
    const pct = (b.events ?? []).filter((e) => e.state === 'progress' && e.percent !== undefined).map((e) => e.percent ?? 0);
    assert.ok(pct.length > 20 && pct.every((p, i) => i === 0 || p >= (pct[i - 1] ?? 0)), 'debootstrap progress rises');
    assert.ok((pct.at(-1) ?? 0) >= 99);
    console.log(`# debootstrap: stopped after ${b.abortedMs} ms, resumed run ${b.resumedMs} ms`);
  });

  it('installs Debian 12 (GPT, BIOS boot + ESP, swap, ext4): stopped in the os step, resumed, booted files in place', { timeout: 40 * 60_000 }, async () => {
    const d = loopDisk(join(work, 'disk1.img'), 4 * GiB, loops);
    // Yesterday's install on the disk: wipe: true lets the plan erase it.
    sh('sgdisk', ['--new=1:1M:+300M', d.path]);
    const s = spec();
    const postInstall = [
      { name: 'in-chroot', script: 'echo "installed by $LPMOS_MACHINE" > /etc/motd' },
      { name: 'on-agent', script: 'touch "$TARGET/root/agent-was-here"', chroot: false },
    ];
    const real = planInstall(biosProfile(true, { postInstall }), new Map([['d0', d]]), s);
    const cached = await debootstrapOnce(biosProfile(true), store);
    const plan = withCachedOs(real, cached.file);
    const timing: Record<string, number> = {};

    // Run 1: stopped while the os step unpacks the root (as soon as the first files are there).
    const ac = new AbortController();
    const first: ProgressEvent[] = [];
    let poll: NodeJS.Timeout | undefined;
    let t0 = Date.now();
    await assert.rejects(install({ store, keys, plan, spec: s, signal: ac.signal, onProgress: (e) => {
      first.push(e);
      if (e.step === 'os' && e.state === 'start') {
        poll = setInterval(() => {
          if (existsSync(join(target, 'usr'))) ac.abort(new Error('agent killed'));
        }, 20);
      }
    } }), /agent killed/);
    clearInterval(poll);
    timing.aborted = Date.now() - t0;
    assert.deepEqual(first.at(-1) && [first.at(-1)?.step, first.at(-1)?.state], ['os', 'failed']);
    const cp = JSON.parse((await store.get(keys.plan('loop-01')))?.value ?? '{}') as { step: string; done: string[] };
    assert.equal(cp.step, 'os');
    assert.deepEqual(cp.done, ['check-disks', 'wipe:d0', 'partition:d0', 'mkfs:esp', 'mkfs:swap', 'mkfs:root', 'mount']);
    assert.ok(!existsSync(join(target, 'var/lib/lpmos/os.done')));
    // The machine "reboots": every mount is gone.
    unmountAll(target);

    // Run 2: a new agent resumes behind the last finished step.
    const second: ProgressEvent[] = [];
    t0 = Date.now();
    const r = await install({ store, keys, plan, spec: s, signal: AbortSignal.timeout(20 * 60_000), onProgress: (e) => second.push(e) });
    timing.resumed = Date.now() - t0;
    assert.deepEqual(r.skipped, ['check-disks', 'wipe:d0', 'partition:d0', 'mkfs:esp', 'mkfs:swap', 'mkfs:root']);
    assert.deepEqual(r.ran, ['mount', 'os', 'configure', 'bootloader', 'unmount', 'done']);
    assert.deepEqual(second.filter((e) => e.state !== 'progress').map((e) => `${e.step}:${e.state}`).slice(-4), ['unmount:start', 'unmount:done', 'done:start', 'done:done']);
    assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(` ${target}`), 'nothing left mounted under the target');

    checkInstalled(plan, d, 'loop-01', inspect, (root) => {
      assert.equal(readFileSync(join(root, 'etc/motd'), 'utf8'), 'installed by loop-01\n', 'post-install script ran in the chroot');
      assert.ok(existsSync(join(root, 'root/agent-was-here')), 'post-install script ran on the agent with $TARGET');
    });
    console.log(`# install from cached root: stopped after ${timing.aborted} ms, resumed run ${timing.resumed} ms`);
  });
});
