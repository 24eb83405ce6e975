import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LpmosError } from '../../core/errors.ts';
import { debootstrapArgv, debootstrapEnv, debootstrapScript, INITRAMFS_SCRIPT } from '../../installers/debian/debootstrap.ts';
import { basePackages, bootTargets, codename } from '../../installers/debian/steps.ts';
import { diskRefusal, parseDiskProbe, tableMatches } from '../../installers/plan/probes.ts';
import { RELEASE_HOLDERS, buildSteps, mbrScript } from '../../installers/plan/steps.ts';
import type { Action, Facts, Step } from '../../installers/plan/types.ts';
import { FIXTURES, GiB, HASH, KEY, biosStorage, disk, layoutOf, profile, raidStorage, spec } from './install-fixture.ts';

const facts: Facts = { uuids: {}, efivars: false };
const argvs = (s: Step | undefined, f: Facts = facts): string[][] => (s?.actions(f) ?? []).flatMap((a) => (a.kind === 'run' ? [a.argv] : []));
const writes = (s: Step | undefined, f: Facts): Map<string, Extract<Action, { kind: 'write' }>> => new Map((s?.actions(f) ?? []).flatMap((a) => (a.kind === 'write' ? [[a.path, a] as const] : [])));
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');
const step = (steps: Step[], id: string): Step => {
  const s = steps.find((x) => x.id === id);
  assert.ok(s, `no step ${id} in ${steps.map((x) => x.id).join(', ')}`);
  return s;
};

describe('install plan: order and ids', () => {
  it('BIOS, one disk, GPT: check-disks → partition → mkfs → mount → os → configure → bootloader → unmount → done', () => {
    const p = profile(biosStorage);
    const steps = buildSteps(p, layoutOf(p, [disk('vda', 8 * GiB)]), spec());
    assert.deepEqual(steps.map((s) => s.id), ['check-disks', 'partition:d0', 'mkfs:esp', 'mkfs:swap', 'mkfs:root', 'mount', 'os', 'configure', 'bootloader', 'unmount', 'done']);
    assert.deepEqual(steps.filter((s) => s.volatile).map((s) => s.id), ['mount', 'unmount']);
    assert.deepEqual(steps.filter((s) => s.chroot).map((s) => s.id), ['configure', 'bootloader']);
  });
  it('RAID 1 + LVM with wipe: wipe every disk, then raid, lvm and a volatile activate step before mkfs', () => {
    const p = profile(raidStorage);
    const steps = buildSteps(p, layoutOf(p, [disk('vda', 8 * GiB), disk('vdb', 8 * GiB)]), spec({ firmware: 'uefi' }));
    assert.deepEqual(steps.map((s) => s.id).slice(0, 9), ['check-disks', 'wipe:d0', 'wipe:d1', 'partition:d0', 'partition:d1', 'raid:md0', 'lvm:vg0', 'activate', 'mkfs:e0']);
    assert.equal(step(steps, 'activate').volatile, true);
  });
});

describe('install plan: storage commands', () => {
  const p = profile(biosStorage);
  const steps = buildSteps(p, layoutOf(p, [disk('vda', 8 * GiB)]), spec());

  it('GPT partitions with exact MiB starts and sizes, type codes and names; partx instead of a re-read', () => {
    assert.deepEqual(argvs(step(steps, 'partition:d0')), [
      ['sgdisk', '--zap-all', '/dev/vda'],
      ['sgdisk', '--new=1:1M:+1M', '--typecode=1:EF02', '--change-name=1:bios', '--new=2:2M:+64M', '--typecode=2:EF00', '--change-name=2:esp',
        '--new=3:66M:+256M', '--typecode=3:8200', '--change-name=3:swap', '--new=4:322M:+7869M', '--typecode=4:8300', '--change-name=4:root', '/dev/vda'],
      ['partx', '-u', '/dev/vda'],
      ['partx', '-a', '/dev/vda'],
      ['wipefs', '--all', '--force', '/dev/vda1'], ['wipefs', '--all', '--force', '/dev/vda2'], ['wipefs', '--all', '--force', '/dev/vda3'], ['wipefs', '--all', '--force', '/dev/vda4'],
    ]);
  });
  it('the partition check accepts the table those commands made (sfdisk --json of a real run) and nothing else', async () => {
    const s = step(steps, 'partition:d0');
    assert.ok(s.check?.kind === 'run');
    assert.deepEqual(s.check.argv, ['sfdisk', '--json', '/dev/vda']);
    assert.equal(s.check.ok(fixture('sfdisk-gpt-bios.json'), 0), true);
    assert.equal(s.check.ok(fixture('sfdisk-mbr.json'), 0), false);
    assert.equal(s.check.ok('', 1), false);
    const other = profile({ ...biosStorage, partitions: biosStorage.partitions.map((x) => (x.id === 'swap' ? { ...x, size: '512MiB' } : x)) });
    const l2 = layoutOf(other, [disk('vda', 8 * GiB)]);
    assert.equal(tableMatches(fixture('sfdisk-gpt-bios.json'), 'gpt', l2.partitions), false);
  });
  it('MBR through an sfdisk script with MiB units; the root partition is bootable; a real table matches', () => {
    const mbr = profile({ partitionTable: 'mbr', disks: [{ id: 'd0' }], partitions: [{ id: 'swap', disk: 'd0', size: '512MiB', type: 'swap' }, { id: 'root', disk: 'd0', size: 'rest' }], filesystems: [{ device: 'swap', type: 'swap' }, { device: 'root', type: 'ext4', mount: '/' }] });
    const l = layoutOf(mbr, [disk('vda', 8 * GiB)]);
    assert.equal(mbrScript(l.partitions, 'root'), 'label: dos\nstart=1MiB, size=512MiB, type=82\nstart=513MiB, size=7678MiB, type=83, bootable\n');
    const [write] = step(buildSteps(mbr, l, spec()), 'partition:d0').actions(facts);
    assert.deepEqual(write, { kind: 'run', argv: ['sfdisk', '--wipe', 'always', '--no-reread', '/dev/vda'], input: mbrScript(l.partitions, 'root') });
    assert.equal(tableMatches(fixture('sfdisk-mbr.json'), 'mbr', l.partitions), true);
  });
  it('mkfs per type with labels; swap is never mounted; mounts go parent first under the target', () => {
    assert.deepEqual(argvs(step(steps, 'mkfs:root')), [['mkfs.ext4', '-F', '-q', '-L', 'root', '/dev/vda4']]);
    assert.deepEqual(argvs(step(steps, 'mkfs:esp')), [['mkfs.vfat', '-F', '32', '/dev/vda2']]);
    assert.deepEqual(argvs(step(steps, 'mkfs:swap')), [['mkswap', '-f', '/dev/vda3']]);
    assert.equal(step(steps, 'mkfs:root').check, undefined, 'an old filesystem at the same offset must not pass for a new one');
    assert.deepEqual(step(steps, 'mount').actions(facts), [
      { kind: 'mount', device: '/dev/vda4', dir: '/target', type: 'ext4' },
      { kind: 'mount', device: '/dev/vda2', dir: '/target/boot/efi', type: 'vfat' },
    ]);
  });
  it('mount and unmount checks read /proc/mounts', () => {
    const mount = step(steps, 'mount').check;
    const unmount = step(steps, 'unmount').check;
    assert.ok(mount?.kind === 'file' && unmount?.kind === 'file');
    const both = '/dev/vda4 /target ext4 rw 0 0\n/dev/vda2 /target/boot/efi vfat rw 0 0\n';
    assert.equal(mount.ok(both), true);
    assert.equal(mount.ok('/dev/vda4 /target ext4 rw 0 0\n'), false);
    assert.equal(unmount.ok(both), false);
    assert.equal(unmount.ok('/dev/vda1 /targetx ext4 rw 0 0\n'), true);
  });
  it('RAID 1: mdadm --create with --run and metadata 1.2 on wiped members; LVM with exact extents', () => {
    const r = profile(raidStorage);
    const l = layoutOf(r, [disk('vda', 8 * GiB), disk('vdb', 8 * GiB)]);
    const rs = buildSteps(r, l, spec({ firmware: 'uefi' }));
    assert.deepEqual(argvs(step(rs, 'raid:md0')), [
      ['wipefs', '--all', '--force', '/dev/vda3'], ['wipefs', '--all', '--force', '/dev/vdb3'],
      ['mdadm', '--create', '/dev/md/md0', '--run', '--metadata=1.2', '--level=1', '--raid-devices=2', '--homehost=any', '--name=md0', '/dev/vda3', '/dev/vdb3'],
    ]);
    const lvm = argvs(step(rs, 'lvm:vg0'));
    const extents = (n: string) => String((l.lvs.find((x) => x.name === n)?.size ?? 0) / (4 * 2 ** 20));
    assert.equal(extents('root'), '1024');
    assert.deepEqual(lvm, [
      ['pvcreate', '-ff', '-y', '/dev/md/md0'],
      ['vgcreate', '-y', '-s', '4m', 'vg0', '/dev/md/md0'],
      ['lvcreate', '-y', '-W', 'y', '-Z', 'y', '-l', '1024', '-n', 'root', 'vg0'],
      ['lvcreate', '-y', '-W', 'y', '-Z', 'y', '-l', '128', '-n', 'swap', 'vg0'],
      ['lvcreate', '-y', '-W', 'y', '-Z', 'y', '-l', extents('var'), '-n', 'var', 'vg0'],
    ]);
    assert.deepEqual(argvs(step(rs, 'activate')), [['mdadm', '--assemble', '--scan'], ['vgchange', '-ay', 'vg0']]);
    const wipe = argvs(step(rs, 'wipe:d1'));
    assert.deepEqual(wipe[0], ['sh', '-c', RELEASE_HOLDERS, 'lpmos-release', '/dev/vdb'], 'arrays and volume groups of an old install are stopped first');
    assert.match(RELEASE_HOLDERS, /raid\*\) mdadm --stop/);
    assert.deepEqual(wipe.slice(2), [['sgdisk', '--zap-all', '/dev/vdb'], ['partx', '-d', '/dev/vdb']]);
    const raidCheck = step(rs, 'raid:md0').check;
    assert.ok(raidCheck?.kind === 'run');
    assert.equal(raidCheck.ok('MD_LEVEL=raid1\nMD_DEVICES=2\n', 0), true);
    assert.equal(raidCheck.ok('', 1), false);
  });
});

describe('check-disks: data without wipe, disks in use', () => {
  it('refuses a disk with data and no wipe, naming the disk and what is on it', () => {
    const why = diskRefusal('d0', '/dev/loop9', parseDiskProbe(fixture('probe-data.txt')), false);
    assert.match(why ?? '', /disk "d0" \(\/dev\/loop9\) holds data/);
    assert.match(why ?? '', /\/dev\/loop9: gpt partition table/);
    assert.match(why ?? '', /\/dev\/loop9p2: ext4 "data"/);
    assert.match(why ?? '', /\/dev\/loop9p1: swap/);
    assert.match(why ?? '', /set "wipe: true" on disk "d0"/);
  });
  it('accepts the same disk with wipe: true, and an empty disk without', () => {
    assert.equal(diskRefusal('d0', '/dev/loop9', parseDiskProbe(fixture('probe-data.txt')), true), undefined);
    assert.equal(diskRefusal('d0', '/dev/loop9', parseDiskProbe(fixture('probe-empty.txt')), false), undefined);
  });
  it('never touches a mounted disk, not even with wipe: true', () => {
    const why = diskRefusal('d0', '/dev/loop9', parseDiskProbe(fixture('probe-mounted.txt')), true);
    assert.match(why ?? '', /is in use: \/dev\/loop9p2 is mounted at \/tmp\/probe-mnt/);
  });
  it('the check-disks step asserts with that probe on every disk', () => {
    const p = profile(biosStorage);
    const [a] = step(buildSteps(p, layoutOf(p, [disk('sdz', 8 * GiB)]), spec()), 'check-disks').actions(facts);
    assert.ok(a?.kind === 'assert');
    assert.equal(a.argv.at(-1), '/dev/sdz');
    assert.match(a.fail(fixture('probe-data.txt').replaceAll('/dev/loop9', '/dev/sdz')) ?? '', /disk "d0" \(\/dev\/sdz\) holds data/);
    assert.equal(a.fail(fixture('probe-empty.txt').replaceAll('/dev/loop9', '/dev/sdz')), undefined);
  });
});

describe('install plan: Debian', () => {
  const p = profile(biosStorage, { users: [{ name: 'ops', sshKeys: [KEY], sudo: true, passwordHash: HASH }], rootPasswordHash: HASH, packages: ['htop'], postInstall: [{ name: 'motd', script: 'echo hi > /etc/motd' }, { name: 'host', script: 'touch "$TARGET/x"', chroot: false }] });
  const l = layoutOf(p, [disk('vda', 8 * GiB)]);
  const steps = buildSteps(p, l, spec());
  const f: Facts = { uuids: { '/dev/vda2': 'ABCD-1234', '/dev/vda3': '11111111-2222-3333-4444-555555555555', '/dev/vda4': '66666666-7777-8888-9999-000000000000' }, efivars: false };

  it('codenames', () => {
    assert.equal(codename({ name: 'debian', version: '12', arch: 'amd64' }), 'bookworm');
    assert.equal(codename({ name: 'ubuntu', version: '24.04', arch: 'amd64' }), 'noble');
    assert.equal(codename({ name: 'debian', version: 'trixie', arch: 'amd64' }), 'trixie');
    assert.throws(() => codename({ name: 'debian', version: '99', arch: 'amd64' }), LpmosError);
  });
  it('debootstrap minbase from the mirror with the package cache, after cleaning a half-done root', () => {
    const [clean, boot, mark] = step(steps, 'os').actions(f);
    assert.deepEqual(clean, { kind: 'clean', dir: '/target', keep: ['/target/boot/efi'] });
    assert.ok(boot?.kind === 'debootstrap' && mark?.kind === 'write');
    assert.equal(boot.resolve, true, 'Debian: the agent resolves the package set');
    assert.equal(boot.prefetch, false, 'from the seed\'s mirror itself: nothing is fetched ahead (it would cross twice)');
    assert.deepEqual(debootstrapArgv(boot), ['debootstrap', '--debian-installer', '--variant=minbase', '--arch=amd64',
      '--include=dosfstools,grub-efi-amd64-bin,grub-pc-bin,grub2-common,ifupdown,initramfs-tools,isc-dhcp-client,linux-image-amd64,openssh-server,sudo,systemd-sysv,udev',
      '--components=main', '--cache-dir=/var/cache/lpmos/apt', 'bookworm', '/target', 'http://10.0.0.1:8080/debian']);
    // With a resolved set: debootstrap does not resolve; our suite script hands it the lists.
    const resolved = { script: '/tmp/s', selection: { required: ['libc6', 'tar'], base: ['apt', 'sudo'], files: [] } };
    assert.deepEqual(debootstrapArgv(boot, resolved), ['debootstrap', '--debian-installer', '--variant=minbase', '--arch=amd64', '--no-resolve-deps',
      '--components=main', '--cache-dir=/var/cache/lpmos/apt', 'bookworm', '/target', 'http://10.0.0.1:8080/debian', '/tmp/s']);
    assert.deepEqual(debootstrapEnv(resolved), { LC_ALL: 'C', LPMOS_DEBOOTSTRAP_REQUIRED: 'libc6 tar', LPMOS_DEBOOTSTRAP_BASE: 'apt sudo' });
    assert.match(debootstrapScript('bookworm'), /^\. "\$DEBOOTSTRAP_DIR\/scripts\/bookworm"\nwork_out_debs \(\) \{\n\trequired="\$LPMOS_DEBOOTSTRAP_REQUIRED"\n\tbase="\$LPMOS_DEBOOTSTRAP_BASE"\n\}$/m);
    assert.throws(() => debootstrapScript('x; rm -rf /'), /not a suite name/);
    // Before anything is configured, update-initramfs is diverted to a no-op (the configure step builds the one initramfs).
    assert.match(debootstrapScript('bookworm'), /^setup_dselect_method \(\) \{\n(.*\n){3}\tin_target dpkg-divert --quiet --local --rename --divert \/usr\/sbin\/update-initramfs\.lpmos --add \/usr\/sbin\/update-initramfs\n/m);
    assert.match(INITRAMFS_SCRIPT, /dpkg-divert --quiet --local --rename --remove \/usr\/sbin\/update-initramfs\nfi\n/);
    assert.match(INITRAMFS_SCRIPT, /if \[ ! -e "\/boot\/initrd\.img-\$v" \]; then update-initramfs -c -k "\$v"/, 'a kernel without an initramfs gets one, also after a crash mid-build');
    assert.equal(mark.path, '/target/var/lib/lpmos/os.done');
  });
  it('packages follow the layout: mdadm, lvm2, xfsprogs; shim and efibootmgr only on UEFI machines', () => {
    const r = profile(raidStorage);
    const rl = layoutOf(r, [disk('vda', 8 * GiB), disk('vdb', 8 * GiB)]);
    const uefi = basePackages(r, rl, spec({ firmware: 'uefi' }));
    for (const x of ['mdadm', 'lvm2', 'xfsprogs', 'shim-signed', 'grub-efi-amd64-signed', 'efibootmgr', 'grub-efi-amd64-bin', 'grub-pc-bin']) assert.ok(uefi.includes(x), x);
    assert.ok(!uefi.includes('openssh-server'));
    const bios = basePackages(p, l, spec());
    assert.ok(!bios.includes('shim-signed') && !bios.includes('mdadm'));
  });
  it('configure writes the files and runs the account commands inside the chroot', () => {
    const c = step(steps, 'configure');
    const w = writes(c, f);
    assert.equal(w.get('/target/etc/hostname')?.content, 'web-01\n');
    assert.match(w.get('/target/etc/fstab')?.content ?? '', /UUID=66666666-7777-8888-9999-000000000000\t\/\text4\terrors=remount-ro\t0\t1/);
    assert.equal(w.get('/target/home/ops/.ssh/authorized_keys')?.content, `${KEY}\n`);
    assert.equal(w.get('/target/home/ops/.ssh/authorized_keys')?.mode, 0o600);
    assert.equal(w.get('/target/etc/sudoers.d/lpmos-ops')?.mode, 0o440);
    assert.ok(w.has('/target/etc/systemd/system/lpmos-firstboot.service'));
    const runs = c.actions(f).filter((a) => a.kind === 'run');
    assert.deepEqual(runs.find((a) => a.argv[0] === 'chpasswd'), { kind: 'run', argv: ['chpasswd', '-e'], input: `root:${HASH}\n` });
    assert.ok(runs.some((a) => a.argv.join(' ') === 'usermod --append --groups sudo ops'));
    assert.ok(runs.some((a) => a.argv.join(' ') === 'apt-get install -y --no-install-recommends htop'));
    assert.ok(runs.some((a) => a.argv.join(' ') === 'systemctl enable lpmos-firstboot.service'));
    assert.ok(runs.some((a) => a.argv.join(' ') === '/bin/sh /var/lib/lpmos/post-install-0' && !a.host));
    assert.ok(runs.some((a) => a.argv.join(' ') === '/bin/sh /target/var/lib/lpmos/post-install-1' && a.host && a.env?.TARGET === '/target'));
    // The initramfs comes last: built once after a diverted install; otherwise not rebuilt for plain partitions.
    assert.deepEqual(runs.at(-1)?.argv, ['sh', '-c', INITRAMFS_SCRIPT, 'lpmos-initramfs', 'no']);
    assert.throws(() => c.actions({ uuids: {}, efivars: false }), /no UUID known for \/dev\/vda2 \(vfat\)/);
  });
  it('RAID: mdadm.conf and a new initramfs; GRUB for BIOS on every disk of the RAID 1, EFI twice (named + removable)', () => {
    const r = profile(raidStorage);
    const rl = layoutOf(r, [disk('vda', 8 * GiB), disk('vdb', 8 * GiB)]);
    const rs = buildSteps(r, rl, spec({ firmware: 'uefi' }));
    const uuids = Object.fromEntries(rl.filesystems.map((x, i) => [x.device, `uuid-${i}`]));
    const conf = argvs(step(rs, 'configure'), { uuids, efivars: true }).map((a) => a.join(' '));
    assert.ok(conf.some((a) => a.includes('mdadm --detail --scan')));
    assert.equal(conf.at(-1), `sh -c ${INITRAMFS_SCRIPT} lpmos-initramfs yes`, 'arrays and volume groups: rebuilt even when debootstrap built one');
    assert.deepEqual(bootTargets(rl, spec({ firmware: 'uefi' })), { bios: ['/dev/vda', '/dev/vdb'], efi: true });
    const withVars = argvs(step(rs, 'bootloader'), { uuids, efivars: true });
    assert.deepEqual(withVars, [
      ['grub-install', '--target=i386-pc', '/dev/vda'],
      ['grub-install', '--target=i386-pc', '/dev/vdb'],
      ['grub-install', '--target=x86_64-efi', '--efi-directory=/boot/efi', '--bootloader-id=debian'],
      ['grub-install', '--target=x86_64-efi', '--efi-directory=/boot/efi', '--removable', '--no-nvram'],
      ['sh', '-c', 'rm -rf "$2/EFI" && cp -r "$1/EFI" "$2/"', 'lpmos-esp-copy', '/boot/efi', '/boot/efi2'],
      ['update-grub'],
    ]);
    const noVars = argvs(step(rs, 'bootloader'), { uuids, efivars: false });
    assert.deepEqual(noVars[2], ['grub-install', '--target=x86_64-efi', '--efi-directory=/boot/efi', '--bootloader-id=debian', '--no-nvram']);
  });
  it('refuses BIOS without a BIOS boot partition on GPT, and UEFI without an ESP', () => {
    const noBios = profile({ disks: [{ id: 'd0' }], partitions: [{ id: 'root', disk: 'd0', size: 'rest' }], filesystems: [{ device: 'root', type: 'ext4', mount: '/' }] });
    const nl = layoutOf(noBios, [disk('vda', 8 * GiB)]);
    assert.throws(() => buildSteps(noBios, nl, spec()), /BIOS boot needs a "bios-boot" partition/);
    assert.throws(() => buildSteps(noBios, nl, spec({ firmware: 'uefi' })), /UEFI boot needs a vfat EFI system partition/);
  });
});
