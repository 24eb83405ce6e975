// The install runner on loop devices (test/component/install-*.test.ts): commands, loop disks, mounts,
// the profile and the checks of an installed system that those tests share.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Disk } from '../../core/model/inventory.ts';
import { profileSchema, type Profile } from '../../core/model/profile.ts';
import type { InstallPlan } from '../../installers/install.ts';
import { tableMatches } from '../../installers/plan/probes.ts';

export const GiB = 2 ** 30;
export const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx3ZXnWcYvS0Yx9pHnCq2Ufb8Zt0f6mGZQk1pZlJ5y3 ops@example';
export const HASH = '$6$lpmos$2WzIUxNGfCvpzTtNfxFEfmxh3jNFP/DYtNA0ZWBKqkeZy9MfOc2Gbv2K3Ww0AmYpHB7Gyy0U2HZmWmMGAhUxX.';

process.env.MTOOLS_SKIP_CHECK = '1'; // mtools: do not insist on a partition-table-free FAT geometry
export const sh = (cmd: string, args: string[], input?: string): string => execFileSync(cmd, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}), stdio: ['pipe', 'pipe', 'pipe'] });
export const trySh = (cmd: string, args: string[]): void => {
  try {
    sh(cmd, args);
  } catch { /* cleanup: best effort */ }
};


/** The Debian mirror of this host's apt sources (deb822 or one-line format). */
export function hostMirror(): string {
  const files = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'].filter(existsSync);
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    const m = /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s/m.exec(text);
    if (m?.[1]) return m[1];
  }
  return 'http://deb.debian.org/debian';
}


export function loopDisk(file: string, size: number, loops: string[]): Disk {
  rmSync(file, { force: true });
  sh('truncate', ['-s', String(size), file]);
  const dev = sh('losetup', ['--find', '--show', file]).trim();
  loops.push(dev);
  trySh('partx', ['-d', dev]); // partitions a previous user of this loop device left registered
  return { name: dev.slice(5), path: dev, sizeBytes: size, model: null, vendor: null, serial: null, wwn: null, rotational: false, removable: false, transport: null, byPath: null, hctl: null, logicalSectorBytes: 512, physicalSectorBytes: 512 };
}


/** Unmounts everything under `dir`, children first; lazily only what stays busy (a lazy unmount keeps the filesystem in use). */
export function unmountAll(dir: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((d) => d === dir || d.startsWith(`${dir}/`));
  for (const m of mounts.reverse()) {
    let ok = false;
    for (let i = 0; i < 10 && !ok; i++) {
      try {
        sh('umount', [m]);
        ok = true;
      } catch {
        execFileSync('sleep', ['0.3']);
      }
    }
    if (!ok) trySh('umount', ['--lazy', m]);
  }
}

/**
 * Mounts `device` read-only at `dir`. The install's unmount step may have had to detach the target
 * lazily (a process still had it open, seen on a loaded machine): the filesystem stays in use until that
 * process ends, so wait up to 60 s, and fail naming the processes that hold it.
 */
export function mountWhenFree(device: string, dir: string): void {
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      sh('mount', ['-o', 'ro', device, dir]);
      return;
    } catch (e) {
      if (Date.now() > end) {
        const holders = (() => {
          try {
            return execFileSync('fuser', ['-vm', device], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
          } catch (f) {
            return String((f as { stderr?: unknown }).stderr ?? '');
          }
        })();
        throw new Error(`${device} still in use 60 s after the install unmounted it: ${(e as Error).message}\n${holders}`, { cause: e });
      }
      execFileSync('sleep', ['1']);
    }
  }
}


export const biosProfile = (wipe: boolean, extra: object = {}): Profile => profileSchema.parse({
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


const tools = ['losetup', 'sgdisk', 'sfdisk', 'partx', 'debootstrap', 'mkfs.vfat', 'mcopy', 'wipefs'];
const missing = tools.filter((t) => !['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(join(d, t))));
/** Why these tests cannot run here (not root, tools missing), or false. */
export const loopSkip = process.getuid?.() !== 0 ? 'needs root (loop devices, mounts)' : missing.length ? `missing tools: ${missing.join(', ')} (scripts/apt-packages.txt)` : false;

/** Removes the loop devices (and their partitions) made by loopDisk. */
export function detachLoops(loops: string[]): void {
  for (const l of loops.splice(0)) {
    trySh('partx', ['-d', l]);
    trySh('losetup', ['-d', l]);
  }
}

/**
 * The installed system on disk `d`, as it would boot: partition table, fstab by UUID, kernel, initramfs,
 * GRUB (BIOS core image, grub.cfg with root=UUID, both EFI loaders), hostname, users and keys.
 */
export function checkInstalled(plan: InstallPlan, d: Disk, machine: string, inspect: string, more: (root: string) => void): void {
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

