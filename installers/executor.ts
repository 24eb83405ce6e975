// The edge of the installer: carries out a step's actions on this machine's disks. Everything
// that decides what to run is in plan/ and debian/ (pure); this file only runs it, evaluates
// checks, learns facts (UUIDs) and keeps the chroot's API filesystems mounted exactly while a
// chroot step runs — unmounted again in `finally`, also when the step fails or is aborted.
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, formatError, LpmosError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import { debootstrapArgv, debootstrapEnv, debootstrapScript, type DebootstrapAction, type ResolvedRun } from './debian/debootstrap.ts';
import { fetchPackagesIndex } from './debian/index-fetch.ts';
import { prefetchPackages } from './debian/prefetch.ts';
import { DebootstrapProgressParser } from './debian/progress.ts';
import { selectDebootstrap, type PackageIndex } from './debian/resolve.ts';
import type { RootImageSource } from './debian/root-image.ts';
import { unpackRootImage } from './debian/root-unpack.ts';
import { endChrootProcesses } from './chroot-procs.ts';
import { execCommand, mustRun } from './exec.ts';
import type { Layout } from './plan/layout.ts';
import { parseMounts } from './plan/probes.ts';
import type { Action, Check, Facts, Step } from './plan/types.ts';

/** debootstrap with its fd-3 progress protocol turned into step progress. */
async function runDebootstrap(argv: string[], env: Record<string, string>, signal: AbortSignal, progress: (p: StepProgress) => void): Promise<void> {
  const parser = new DebootstrapProgressParser();
  await mustRun(argv, { signal, env, onFd3Line: (l) => {
    const u = parser.feed(l);
    if (u) progress({ percent: u.percent, ...(u.bytes !== undefined ? { bytes: u.bytes } : {}), ...(u.message ? { message: u.message } : {}) });
  } });
}

export interface StepProgress { percent?: number; bytes?: number; message?: string }

export interface ExecutorOptions { target: string; log?: Logger; images?: RootImageSource }

async function mountsUnder(dir: string): Promise<string[]> {
  const all = parseMounts(await readFile('/proc/mounts', 'utf8'));
  return all.map((m) => m.dir).filter((d) => d === dir || d.startsWith(`${dir}/`));
}

export class LocalExecutor {
  readonly #target: string;
  readonly #log: Logger;
  readonly #images: RootImageSource | undefined;

  constructor(opts: ExecutorOptions) {
    this.#target = opts.target;
    this.#log = opts.log ?? silentLogger();
    this.#images = opts.images;
  }

  async check(c: Check, signal: AbortSignal): Promise<boolean> {
    switch (c.kind) {
      case 'run': {
        const r = await execCommand(c.argv, { signal });
        return c.ok(r.stdout, r.code);
      }
      case 'file':
        return c.ok(await readFile(c.path, 'utf8').catch(() => undefined));
      case 'exists':
        return existsSync(c.path);
      case 'all':
        for (const sub of c.checks) if (!(await this.check(sub, signal))) return false;
        return true;
    }
  }

  /** UUIDs of the layout's filesystems, probed from the devices (blkid -p: no cache, no udev needed). */
  async facts(layout: Layout, signal: AbortSignal): Promise<Facts> {
    const uuids: Record<string, string> = {};
    for (const f of layout.filesystems) {
      const r = await execCommand(['blkid', '-p', '-o', 'value', '-s', 'UUID', f.device], { signal });
      const uuid = r.stdout.trim();
      if (r.code === 0 && uuid) uuids[f.device] = uuid;
    }
    return { uuids, efivars: existsSync('/sys/firmware/efi/efivars') };
  }

  async runStep(step: Step, facts: Facts, signal: AbortSignal, progress: (p: StepProgress) => void): Promise<void> {
    const actions = step.actions(facts);
    if (!step.chroot) {
      for (const a of actions) await this.#act(a, false, signal, progress);
      return;
    }
    const undo = await this.#enterChroot(facts, signal);
    try {
      for (const a of actions) await this.#act(a, true, signal, progress);
    } finally {
      await undo();
    }
  }

  async #act(a: Action, chroot: boolean, signal: AbortSignal, progress: (p: StepProgress) => void): Promise<void> {
    switch (a.kind) {
      case 'run': {
        const argv = chroot && !a.host ? ['chroot', this.#target, ...a.argv] : a.argv;
        this.#log.info({ argv }, 'run');
        if (a.progress === 'debootstrap') return runDebootstrap(argv, a.env ?? {}, signal, progress);
        await mustRun(argv, { signal, ...(a.input !== undefined ? { input: a.input } : {}), ...(a.env ? { env: a.env } : {}), ...(a.okCodes ? { okCodes: a.okCodes } : {}) });
        return;
      }
      case 'debootstrap': {
        const resolved = a.resolve ? await this.#resolve(a, signal, progress) : undefined;
        if (resolved && a.prefetch) await this.#prefetch(a.mirror, resolved.selection.files, signal, progress);
        const argv = debootstrapArgv(a, resolved);
        this.#log.info({ argv }, 'run');
        try {
          return await runDebootstrap(argv, debootstrapEnv(resolved), signal, progress);
        } finally {
          if (resolved) await rm(resolved.script, { force: true });
        }
      }
      case 'rootfs': {
        if (!this.#images) throw new LpmosError(ErrorCode.Internal, 'the plan unpacks a root built by the seed, but this installer has no way to fetch one');
        const image = await this.#images.open(a.spec, signal, progress);
        try {
          await unpackRootImage(image, a.target, signal, progress, this.#log);
        } finally {
          image.close();
        }
        return;
      }
      case 'write':
        await mkdir(dirname(a.path), { recursive: true });
        await writeFile(a.path, a.content, { mode: a.mode ?? 0o644 });
        await chmod(a.path, a.mode ?? 0o644); // writeFile's mode only applies to new files
        return;
      case 'assert': {
        const r = await mustRun(a.argv, { signal });
        const why = a.fail(r.stdout);
        if (why) throw new LpmosError(ErrorCode.Validation, why);
        return;
      }
      case 'mount':
        return this.#mount(a, signal);
      case 'clean':
        return this.#clean(a.dir, a.keep, signal);
    }
  }

  /**
   * The package set debootstrap would choose, worked out here from the mirror's index; undefined (and
   * debootstrap resolves, slowly) when the index cannot be had — a slow install, not a failed one.
   */
  async #resolve(a: DebootstrapAction, signal: AbortSignal, progress: (p: StepProgress) => void): Promise<ResolvedRun | undefined> {
    const t0 = performance.now();
    progress({ percent: 0, message: `resolving packages from ${a.mirror}` });
    try {
      const index = await this.#fetchIndex(a, signal);
      const selection = selectDebootstrap(index, a.suite, a.include);
      // Beside the target, not in it: debootstrap copies its script into the target itself.
      const script = join(tmpdir(), `lpmos-debootstrap-${a.suite}-${process.pid}`);
      await writeFile(script, debootstrapScript(a.suite), { mode: 0o644 });
      const seconds = ((performance.now() - t0) / 1000).toFixed(1);
      const packages = selection.required.length + selection.base.length;
      this.#log.info({ packages, required: selection.required.length, base: selection.base.length, seconds }, 'package set resolved');
      progress({ percent: 0, message: `${packages} packages resolved in ${seconds} s` });
      return { script, selection };
    } catch (e) {
      signal.throwIfAborted();
      this.#log.warn({ err: formatError(e) }, 'cannot resolve the package set here: debootstrap resolves it');
      return undefined;
    }
  }

  /**
   * The index, tried three times: a 9 MB download through the proxy and the swarm can be cut off
   * half-way on a starved machine (seen: "terminated" under TCG), and one more try costs seconds
   * where debootstrap's own resolution costs tens of minutes.
   */
  async #fetchIndex(a: DebootstrapAction, signal: AbortSignal): Promise<PackageIndex> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fetchPackagesIndex({ mirror: a.mirror, suite: a.suite, components: a.components, arch: a.arch }, signal);
      } catch (e) {
        signal.throwIfAborted();
        if (attempt >= 3) throw e;
        this.#log.warn({ attempt, err: formatError(e) }, 'Packages index not fetched: trying again');
        await sleep(2000 * attempt, undefined, { signal });
      }
    }
  }

  async #prefetch(mirror: string, files: string[], signal: AbortSignal, progress: (p: StepProgress) => void): Promise<void> {
    const t0 = performance.now();
    let last = 0;
    const r = await prefetchPackages({
      mirror, files, signal, log: this.#log,
      onProgress: (done, bytes) => {
        if (performance.now() - last < 1000 && done < files.length) return;
        last = performance.now();
        progress({ percent: 0, bytes, message: `fetched ${done}/${files.length} packages ahead (${(bytes / 2 ** 20).toFixed(1)} MiB)` });
      },
    });
    this.#log.info({ ...r, seconds: ((performance.now() - t0) / 1000).toFixed(1) }, 'packages fetched ahead of debootstrap');
  }

  async #mount(a: Extract<Action, { kind: 'mount' }>, signal: AbortSignal): Promise<void> {
    await mkdir(a.dir, { recursive: true });
    if ((await mountsUnder(a.dir)).includes(a.dir)) return; // mounted by an earlier run of this step
    const r = await execCommand(['mount', '-t', a.type, ...(a.options ? ['-o', a.options] : []), a.device, a.dir], { signal });
    if (r.code === 0) return;
    // A kernel without vfat (this project's build VMs) cannot mount the ESP: FAT in user space
    // (fusefat) instead. fsname= makes the device the mount's source in mountinfo, which is how
    // grub-install finds the ESP's device (it reads the FAT itself to check it is one).
    if (a.type === 'vfat' && /unknown filesystem type/.test(r.stderr) && existsSync('/usr/bin/fusefat')) {
      this.#log.warn({ device: a.device, dir: a.dir }, 'kernel cannot mount vfat: mounting the ESP with fusefat');
      await mustRun(['fusefat', '-o', `rw+,fsname=${a.device}`, a.device, a.dir], { signal });
      return;
    }
    throw new LpmosError(ErrorCode.Internal, `mount ${a.device} on ${a.dir} failed (exit ${r.code}): ${r.stderr.trim()}`);
  }

  /** Empties `dir` except the kept mount points; stray mounts below it (a killed chroot's /dev) go first. */
  async #clean(dir: string, keep: string[], signal: AbortSignal): Promise<void> {
    for (const m of (await mountsUnder(dir)).reverse()) {
      if (m !== dir && !keep.includes(m)) await mustRun(['umount', '--recursive', '--lazy', m], { signal, okCodes: [0, 32] });
    }
    const kept = new Set(keep);
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d)) {
        const p = join(d, e);
        if (e === 'lost+found') continue;
        if (kept.has(p) || keep.some((k) => k.startsWith(`${p}/`))) {
          await walk(p);
          continue;
        }
        // --one-file-system: never follow into a filesystem that is still mounted below.
        await mustRun(['rm', '-rf', '--one-file-system', '--', p], { signal });
      }
    };
    await walk(dir);
  }

  /** Mounts /proc, /sys, /dev (+pts), /run in the target and keeps services from starting; returns the undo. */
  async #enterChroot(facts: Facts, signal: AbortSignal): Promise<() => Promise<void>> {
    const t = this.#target;
    const mounted: string[] = [];
    let madeDiskDir = false;
    const policy = join(t, 'usr/sbin/policy-rc.d');
    const addedPolicy = !existsSync(policy);
    const undo = async (): Promise<void> => {
      const quiet = new AbortController().signal; // teardown must run even when the step was aborted
      // A process the step left running in the chroot would keep the target busy after the install.
      const ended = await endChrootProcesses(t).catch((e: unknown) => (this.#log.warn({ err: formatError(e) }, 'could not look for processes left in the chroot'), []));
      if (ended.length > 0) this.#log.warn({ pids: ended, target: t }, 'ended processes left running in the chroot');
      for (const m of mounted.reverse()) {
        const r = await execCommand(['umount', '--recursive', m], { signal: quiet });
        if (r.code !== 0) await execCommand(['umount', '--recursive', '--lazy', m], { signal: quiet });
      }
      if (addedPolicy) await rm(policy, { force: true });
      if (madeDiskDir) await rmdir('/dev/disk').catch(() => undefined); // the empty mount point it left on the host's /dev
    };
    try {
      const mount = async (argv: string[], dir: string): Promise<void> => {
        await mkdir(dir, { recursive: true });
        await mustRun([...argv, dir], { signal });
        mounted.push(dir);
      };
      await mount(['mount', '-t', 'proc', 'proc'], join(t, 'proc'));
      await mount(['mount', '-t', 'sysfs', 'sysfs'], join(t, 'sys'));
      if (existsSync('/sys/firmware/efi/efivars')) await mount(['mount', '--bind', '/sys/firmware/efi/efivars'], join(t, 'sys/firmware/efi/efivars'));
      await mount(['mount', '--rbind', '/dev'], join(t, 'dev'));
      // rslave: unmounting the target's /dev later must not propagate to the host's /dev submounts.
      await mustRun(['mount', '--make-rslave', join(t, 'dev')], { signal });
      // Without udev (the agent ramdisk, build hosts) there is no /dev/disk/by-uuid, and
      // grub-mkconfig then writes root=/dev/sdX instead of root=UUID=… (10_linux tests the link).
      // A private tmpfs under the target's /dev (rslave: not seen by the host) gets the links.
      if (!existsSync('/dev/disk/by-uuid') && Object.keys(facts.uuids).length) {
        madeDiskDir = !existsSync('/dev/disk');
        await mount(['mount', '-t', 'tmpfs', '-o', 'mode=755,size=1m', 'tmpfs'], join(t, 'dev/disk'));
        await mkdir(join(t, 'dev/disk/by-uuid'));
        for (const [device, uuid] of Object.entries(facts.uuids)) await symlink(device, join(t, 'dev/disk/by-uuid', uuid));
      }
      await mount(['mount', '-t', 'tmpfs', '-o', 'mode=755,nosuid,nodev', 'tmpfs'], join(t, 'run'));
      if (addedPolicy) await writeFile(policy, '#!/bin/sh\n# LPMOS install: no service starts inside the chroot (invoke-rc.d policy, 101 = forbidden)\nexit 101\n', { mode: 0o755 });
      const resolv = join(t, 'etc/resolv.conf');
      if (!existsSync(resolv) && existsSync('/etc/resolv.conf')) await writeFile(resolv, await readFile('/etc/resolv.conf'));
    } catch (e) {
      await undo();
      throw e;
    }
    return undo;
  }
}
