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
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LpmosError } from '../../core/errors.ts';
import { Keys } from '../../core/keys.ts';
import type { Disk } from '../../core/model/inventory.ts';
import { profileSchema, type Profile } from '../../core/model/profile.ts';
import type { Store } from '../../core/store/store.ts';
import { StoreCheckpoint } from '../../installers/checkpoint.ts';
import { LocalExecutor } from '../../installers/executor.ts';
import { debootstrapScript } from '../../installers/debian/debootstrap.ts';
import { install, planInstall, type InstallPlan } from '../../installers/install.ts';
import { tableMatches } from '../../installers/plan/probes.ts';
import type { Action, InstallSpec, Step } from '../../installers/plan/types.ts';
import type { RootImageSpec } from '../../installers/debian/root-image.ts';
import { runPlan, type ProgressEvent } from '../../installers/runner.ts';
import { openStore } from '../../store/connect.ts';
import { SeedRootImages } from '../../agent/root-images.ts';
import { silentLogger } from '../../core/log.ts';
import { startHttp, type HttpServer } from '../../seed/http/server.ts';
import { MirrorCache } from '../../seed/mirror/cache.ts';
import { parseMirrorSetting, readHostSources } from '../../seed/mirror/setting.ts';
import { RootImageBuilds } from '../../seed/rootfs/builds.ts';
import { MemoryStore } from '../../store/memory.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { LoopDisks, mountWhenFree, processesUsing, sh, unmountAll } from '../helpers/loop-disk.ts';

const GiB = 2 ** 30;
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx3ZXnWcYvS0Yx9pHnCq2Ufb8Zt0f6mGZQk1pZlJ5y3 ops@example';
const HASH = '$6$lpmos$2WzIUxNGfCvpzTtNfxFEfmxh3jNFP/DYtNA0ZWBKqkeZy9MfOc2Gbv2K3Ww0AmYpHB7Gyy0U2HZmWmMGAhUxX.';
const name = `lpmos-inst-${process.pid}`;
const work = join(existsSync('/dev/shm') ? '/dev/shm' : '/tmp', name);
const target = join(work, 'target');
const inspect = join(work, 'inspect');
const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lpmos', 'apt-cache');
const keys = new Keys('/lpmos/', `install-${process.pid}`);
const loopDisks = new LoopDisks();
/** The host's Debian mirror (its apt sources, as the seed's `mirror: auto` reads them); set in `before`. */
let hostMirror = 'http://deb.debian.org/debian';

process.env.MTOOLS_SKIP_CHECK = '1'; // mtools: do not insist on a partition-table-free FAT geometry

const biosProfile = (wipe: boolean, extra: object = {}): Profile => profileSchema.parse({
  kind: 'Profile', name: 'loop-bios', os: { name: 'debian', version: '12' },
  storage: {
    disks: [{ id: 'd0', wipe }],
    partitions: [{ id: 'bios', disk: 'd0', size: '1MiB', type: 'bios-boot' }, { id: 'esp', disk: 'd0', size: '64MiB', type: 'esp' }, { id: 'swap', disk: 'd0', size: '128MiB', type: 'swap' }, { id: 'root', disk: 'd0', size: 'rest' }],
    filesystems: [{ device: 'esp', type: 'vfat', mount: '/boot/efi' }, { device: 'swap', type: 'swap' }, { device: 'root', type: 'ext4', mount: '/' }],
  },
  network: { hostname: 'loop-01', interfaces: [{ match: 'boot', dhcp: true }] },
  rootPasswordHash: HASH,
  users: [{ name: 'ops', sshKeys: [KEY], sudo: true }],
  ...extra,
});

const spec = (): InstallSpec => ({ machine: 'loop-01', firmware: 'bios', mirror: hostMirror, target, cacheDir, hostname: 'loop-01', seedUrl: 'http://127.0.0.1:9' });
const tools = ['losetup', 'sgdisk', 'sfdisk', 'partx', 'debootstrap', 'mkfs.vfat', 'mcopy', 'wipefs'];
const missing = tools.filter((t) => !['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(join(d, t))));
const skip = process.getuid?.() !== 0 ? 'needs root (loop devices, mounts)' : missing.length ? `missing tools: ${missing.join(', ')} (scripts/apt-packages.txt)` : false;


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

/** The image spec the plan's os step asks the seed for. */
function osStepImage(plan: InstallPlan): RootImageSpec {
  const a = plan.steps.find((x) => x.id === 'os')!.actions({ uuids: {}, efivars: false }).find((x) => x.kind === 'rootfs');
  assert.ok(a?.kind === 'rootfs', 'the os step unpacks a seed-built root');
  return a.spec;
}

/**
 * The installed system on disk `d`, as it would boot: partition table, fstab by UUID, kernel, initramfs,
 * GRUB (BIOS core image, grub.cfg with root=UUID, both EFI loaders), hostname, users and keys.
 */
function checkInstalled(plan: InstallPlan, d: Disk, machine: string, more: (root: string) => void): void {
  const hostname = plan.steps.find((x) => x.id === 'configure')!.title.replace(/^configure /, '');
  // The partition table is the planned one.
  const table = sh('sfdisk', ['--json', d.path]);
  assert.ok(tableMatches(table, 'gpt', plan.layout.partitions), table);
  const parts = (JSON.parse(table) as { partitiontable: { partitions: { start: number; size: number }[] } }).partitiontable.partitions;
  assert.deepEqual(parts.map((p) => [p.start * 512, p.size * 512]), plan.layout.partitions.map((p) => [p.start, p.size]));
  // The installed system, as it would boot.
  const root = plan.layout.filesystems.find((f) => f.mount === '/')!;
  mountWhenFree(root.device, inspect);
  try {
    const fstab = readFileSync(join(inspect, 'etc/fstab'), 'utf8');
    for (const f of plan.layout.filesystems) {
      const uuid = sh('blkid', ['-p', '-o', 'value', '-s', 'UUID', f.device]).trim();
      assert.match(fstab, new RegExp(`^UUID=${uuid}\\s+${f.mount ?? 'none'}\\s+${f.type}\\s`, 'm'), `${f.device} by UUID in fstab`);
    }
    const boot = readdirSync(join(inspect, 'boot'));
    assert.ok(boot.some((f) => /^vmlinuz-\d/.test(f)), `kernel in /boot: ${boot.join(' ')}`);
    assert.ok(boot.some((f) => /^initrd\.img-\d/.test(f)), 'initramfs in /boot');
    assert.ok(statSync(join(inspect, 'boot/grub/i386-pc/core.img')).size > 10_000, 'GRUB core.img');
    const cfg = readFileSync(join(inspect, 'boot/grub/grub.cfg'), 'utf8');
    assert.match(cfg, new RegExp(`root=UUID=${sh('blkid', ['-p', '-o', 'value', '-s', 'UUID', root.device]).trim()}`));
    assert.equal(readFileSync(join(inspect, 'etc/hostname'), 'utf8'), `${hostname}\n`);
    assert.equal(readFileSync(join(inspect, 'home/ops/.ssh/authorized_keys'), 'utf8'), `${KEY}\n`);
    const passwd = readFileSync(join(inspect, 'etc/passwd'), 'utf8');
    const uid = Number(/^ops:x:(\d+):/m.exec(passwd)?.[1]);
    assert.ok(uid >= 1000, 'user ops exists');
    assert.equal(statSync(join(inspect, 'home/ops/.ssh/authorized_keys')).uid, uid, 'authorized_keys belongs to ops');
    assert.equal(statSync(join(inspect, 'home/ops/.ssh/authorized_keys')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(inspect, 'etc/group'), 'utf8'), /^sudo:x:\d+:ops$/m);
    assert.ok(readFileSync(join(inspect, 'etc/shadow'), 'utf8').startsWith(`root:${HASH}:`), 'root password hash');
    // An absolute link inside the installed system: read it, do not follow it on this host.
    assert.equal(readlinkSync(join(inspect, 'etc/systemd/system/multi-user.target.wants/lpmos-firstboot.service')), '/etc/systemd/system/lpmos-firstboot.service', 'first-boot unit enabled');
    assert.match(readFileSync(join(inspect, 'usr/local/sbin/lpmos-firstboot'), 'utf8'), new RegExp(`path='/api/v1/firstboot\\?machine=${machine}'`));
    assert.ok(!existsSync(join(inspect, 'usr/sbin/policy-rc.d')), 'the install-time policy-rc.d is gone');
    more(inspect);
  } finally {
    sh('umount', [inspect]);
  }
  // GRUB's BIOS boot code: in the MBR and in the BIOS boot partition.
  const mbr = execFileSync('dd', [`if=${d.path}`, 'bs=512', 'count=1', 'status=none']);
  assert.equal(mbr.readUInt16LE(510), 0xaa55);
  assert.ok(mbr.includes(Buffer.from('GRUB')), 'GRUB boot.img in the MBR');
  const biosPart = execFileSync('dd', [`if=${plan.layout.partitions[0]!.device}`, 'bs=64k', 'count=1', 'status=none']);
  assert.ok(biosPart.some((b) => b !== 0), 'core.img in the BIOS boot partition');
  // UEFI: the named loader and the removable-media fallback on the ESP.
  const efi = sh('mdir', ['-i', plan.layout.partitions[1]!.device, '-b', '-/', '::/EFI']);
  assert.match(efi, /EFI\/BOOT\/BOOTX64\.EFI/i);
  assert.match(efi, /EFI\/debian\/grubx64\.efi/i);
}

describe('install to a loop disk on this machine', { skip, timeout: 40 * 60_000 }, () => {
  let etcd: TestEtcd;
  let store: Store;
  before(async () => {
    mkdirSync(target, { recursive: true });
    mkdirSync(inspect, { recursive: true });
    mkdirSync(cacheDir, { recursive: true });
    hostMirror = parseMirrorSetting('auto', await readHostSources()).debian ?? hostMirror;
    etcd = await TestEtcd.start();
    store = await openStore({ endpoints: etcd.endpoints });
  });
  after(async () => {
    // etcd and the store are closed whatever the disk clean-up throws (a throw here left the test
    // process waiting on them until the runner's timeout).
    try {
      unmountAll(inspect);
      unmountAll(target);
      unmountAll(join(work, 'root-build'));
      loopDisks.detachAll();
      rmSync(work, { recursive: true, force: true });
    } finally {
      await store?.close();
      await etcd?.stop();
    }
  });

  it('refuses a disk that holds data without wipe: true, naming the disk and what is on it; nothing is written', async () => {
    const d = loopDisks.attach(join(work, 'data.img'), 4 * GiB);
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
    const d = loopDisks.attach(join(work, 'busy.img'), 2 * GiB);
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
    const d = loopDisks.attach(join(work, 'disk1.img'), 4 * GiB);
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

    checkInstalled(plan, d, 'loop-01', (root) => {
      assert.equal(readFileSync(join(root, 'etc/motd'), 'utf8'), 'installed by loop-01\n', 'post-install script ran in the chroot');
      assert.ok(existsSync(join(root, 'root/agent-was-here')), 'post-install script ran on the agent with $TARGET');
    });
    console.log(`# install from cached root: stopped after ${timing.aborted} ms, resumed run ${timing.resumed} ms`);
  });

  it('installs from a root the seed built once (POST /rootfs, debootstrap on the seed from its mirror): stopped mid-unpack, resumed', { timeout: 40 * 60_000 }, async () => {
    // The seed: its HTTP server with the apt mirror (cached under ~/.cache/lpmos/mirror) and root
    // images kept under ~/.cache/lpmos/rootfs (a second run finds this package set built).
    const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lpmos');
    const mirror = new MirrorCache({ dir: join(cache, 'mirror'), upstreams: parseMirrorSetting('auto', await readHostSources()), logger: silentLogger() });
    // The seed builds from its own mirror, over HTTP (called once the server below listens).
    const builds = new RootImageBuilds({ dir: join(cache, 'rootfs'), mirrorUrl: (os) => `http://127.0.0.1:${http.port}/mirror/${os}` });
    const http: HttpServer = await startHttp({ port: 0, address: '127.0.0.1' }, { logger: silentLogger(), store: new MemoryStore(), keys: new Keys(), site: 'default', prefix: '/lpmos/', etcdEndpoints: ['http://127.0.0.1:2379'], mirror, rootfs: builds });
    try {
      const d = loopDisks.attach(join(work, 'disk2.img'), 4 * GiB);
      const s: InstallSpec = { ...spec(), machine: 'loop-02', rootImages: true, seedUrl: `http://127.0.0.1:${http.port}` };
      const plan = planInstall(biosProfile(true), new Map([['d0', d]]), s);
      const images = new SeedRootImages({ seedUrl: s.seedUrl!, logger: silentLogger(), pollMs: 1000 });
      const osStep = plan.steps.find((x) => x.id === 'os')!;
      assert.match(osStep.title, /built by the seed/);

      // Run 1: stopped once the unpack has begun (the seed builds first, when it has not yet).
      const ac = new AbortController();
      let poll: NodeJS.Timeout | undefined;
      const seen: ProgressEvent[] = [];
      let t0 = Date.now();
      await assert.rejects(install({ store, keys, plan, spec: s, images, signal: ac.signal, onProgress: (e) => {
        seen.push(e);
        if (e.step === 'os' && e.state === 'progress' && /unpacking the root image/.test(e.message ?? '') && !poll) {
          poll = setInterval(() => {
            if (existsSync(join(target, 'usr/bin'))) ac.abort(new Error('agent killed'));
          }, 20);
        }
      } }), /agent killed/);
      clearInterval(poll);
      const aborted = Date.now() - t0;
      assert.ok(!existsSync(join(target, 'var/lib/lpmos/os.done')), 'stopped before the unpack finished');
      unmountAll(target);
      const ref = await builds.request(osStepImage(plan));
      assert.equal(ref.state, 'ready', 'the seed kept the image it built');

      // Run 2: resumed; the os step starts from an emptied root and unpacks the same image.
      t0 = Date.now();
      const r = await install({ store, keys, plan, spec: s, images, signal: AbortSignal.timeout(20 * 60_000) });
      const resumed = Date.now() - t0;
      assert.deepEqual(r.ran, ['mount', 'os', 'configure', 'bootloader', 'unmount', 'done']);
      assert.ok(builds.built <= 1, 'built at most once');
      checkInstalled(plan, d, 'loop-02', (root) => {
        assert.match(readFileSync(join(root, 'etc/machine-id'), 'utf8'), /^[0-9a-f]{32}\n$/, 'a machine-id of its own');
        assert.ok(existsSync(join(root, 'etc/ssh/ssh_host_ed25519_key')), 'SSH host keys of its own');
        assert.ok(!readdirSync(join(root, 'var/cache/apt/archives')).some((f) => f.endsWith('.deb')), 'no package files in the image');
      });
      const building = seen.filter((e) => /the seed builds the root image/.test(e.message ?? '')).length;
      console.log(`# seed-built root (${ref.state === 'ready' ? `${(ref.image.size / 2 ** 20).toFixed(0)} MiB, built in ${ref.image.buildSeconds} s` : '?'}; ${building ? 'built during this run' : 'found built'}): stopped after ${aborted} ms, resumed run ${resumed} ms`);
    } finally {
      try {
        await http.stop();
      } finally {
        await builds.stop(); // a build still running (debootstrap) would keep this process alive
      }
    }
  });
});
