// The Debian/Ubuntu part of the plan: debootstrap (os), configuration inside the chroot
// (configure) and GRUB (bootloader). Pure: argv arrays and file contents.
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import type { Profile } from '../../core/model/profile.ts';
import type { Layout } from '../plan/layout.ts';
import { mountOrder, targetPath } from '../plan/mounts.ts';
import { INITRAMFS_SCRIPT } from './debootstrap.ts';
import { normalizeRootImageSpec, type RootImageSpec } from './root-image.ts';
import type { Action, InstallSpec, Step } from '../plan/types.ts';
import { FIRSTBOOT_SCRIPT, nicNames, renderFirstbootScript, renderFirstbootUnit, renderFstab, renderGrubDefaults, renderHostname, renderHosts, renderInterfaces, renderLinkFile, renderNetplan, renderSources, renderSudoers } from './render.ts';

const CODENAMES: Record<string, Record<string, string>> = {
  debian: { '10': 'buster', '11': 'bullseye', '12': 'bookworm', '13': 'trixie' },
  ubuntu: { '20.04': 'focal', '22.04': 'jammy', '24.04': 'noble' },
};

/** `12` → `bookworm`; a codename stays as it is. */
export function codename(os: Profile['os']): string {
  const c = CODENAMES[os.name]?.[os.version];
  if (c) return c;
  if (/^[a-z]+$/.test(os.version)) return os.version;
  throw new LpmosError(ErrorCode.Validation, `unknown ${os.name} version "${os.version}": give a release number (${Object.keys(CODENAMES[os.name] ?? {}).join(', ')}) or a codename`);
}

/** Which GRUBs the disks need: BIOS when booted so or a BIOS boot partition exists; EFI when an ESP is mounted. */
export function bootTargets(layout: Layout, spec: InstallSpec): { bios: string[]; efi: boolean } {
  const esp = layout.filesystems.some((f) => f.mount === '/boot/efi' && f.type === 'vfat');
  const withBiosBoot = new Set(layout.partitions.filter((p) => p.type === 'bios-boot').map((p) => p.disk));
  // The disks under /boot (or /): through RAID members and LVM physical volumes down to disks, so
  // that every half of a RAID 1 can boot alone.
  const byDevice = new Map<string, string[]>();
  for (const p of layout.partitions) byDevice.set(p.device, [p.disk]);
  for (const d of layout.disks) byDevice.set(d.device, [d.id]);
  for (const r of layout.raid) byDevice.set(r.device, [...r.members, ...r.spares].flatMap((m) => byDevice.get(m) ?? []));
  for (const vg of layout.vgs) {
    const disks = vg.pvs.flatMap((pv) => byDevice.get(pv) ?? []);
    for (const lv of layout.lvs.filter((l) => l.vg === vg.name)) byDevice.set(lv.device, disks);
  }
  const boot = layout.filesystems.find((f) => f.mount === '/boot') ?? layout.filesystems.find((f) => f.mount === '/');
  const diskIds = [...new Set(boot ? (byDevice.get(boot.device) ?? []) : [])];
  const wantBios = (id: string): boolean => withBiosBoot.has(id) || (layout.partitionTable === 'mbr' && spec.firmware === 'bios');
  const bios = diskIds.filter(wantBios).map((id) => layout.disks.find((d) => d.id === id)?.device ?? id);
  if (spec.firmware === 'bios' && !bios.length) throw new LpmosError(ErrorCode.Validation, 'BIOS boot needs a "bios-boot" partition on a GPT disk under /boot (or an MBR table)');
  if (spec.firmware === 'uefi' && !esp) throw new LpmosError(ErrorCode.Validation, 'UEFI boot needs a vfat EFI system partition mounted at /boot/efi');
  return { bios, efi: esp };
}

/** Packages debootstrap installs: what boots, plus what this layout and profile need. */
export function basePackages(profile: Profile, layout: Layout, spec: InstallSpec): string[] {
  const p = new Set(['linux-image-amd64', 'systemd-sysv', 'udev', 'initramfs-tools', 'grub2-common']);
  if (profile.os.name === 'ubuntu') {
    p.delete('linux-image-amd64');
    p.add('linux-image-generic').add('netplan.io');
  } else {
    p.add('ifupdown');
    if (profile.network.interfaces.some((i) => i.dhcp)) p.add('isc-dhcp-client');
  }
  if (layout.raid.length) p.add('mdadm');
  if (layout.vgs.length) p.add('lvm2');
  const types = new Set(layout.filesystems.map((f) => f.type));
  if (types.has('xfs')) p.add('xfsprogs');
  if (types.has('btrfs')) p.add('btrfs-progs');
  if (types.has('vfat')) p.add('dosfstools');
  const boot = bootTargets(layout, spec);
  if (boot.bios.length) p.add('grub-pc-bin');
  if (boot.efi) p.add('grub-efi-amd64-bin');
  // Secure Boot chain (shim → signed GRUB) and the NVRAM tool, for machines that boot UEFI.
  if (boot.efi && spec.firmware === 'uefi') p.add('shim-signed').add('grub-efi-amd64-signed').add('efibootmgr');
  if (profile.sshKeys.length || profile.users.some((u) => u.sshKeys.length)) p.add('openssh-server');
  if (profile.users.some((u) => u.sudo)) p.add('sudo');
  return [...p].sort();
}

/** Every GRUB and boot package the profile's machines may need, whatever their firmware (one image per profile). */
const ALL_BOOT_PACKAGES = ['grub-pc-bin', 'grub-efi-amd64-bin', 'shim-signed', 'grub-efi-amd64-signed', 'efibootmgr'];

/**
 * The package set of the seed-built root for this profile: what debootstrap would get here, the
 * boot packages of both firmwares, and the profile's own packages (natively on the seed, not by apt in
 * the machine). Machines of one profile ask for the same set, so they share one image.
 */
export function rootImageSpecFor(profile: Profile, layout: Layout, spec: InstallSpec): RootImageSpec {
  const arch = profile.os.arch;
  const boot = arch === 'amd64' ? ALL_BOOT_PACKAGES : ['grub-efi-arm64-bin', 'shim-signed', 'grub-efi-arm64-signed', 'efibootmgr'];
  const include = new Set([...basePackages(profile, layout, spec), ...boot, ...profile.packages]);
  if (arch !== 'amd64') for (const p of ALL_BOOT_PACKAGES) if (!boot.includes(p)) include.delete(p);
  return normalizeRootImageSpec({ os: profile.os.name === 'ubuntu' ? 'ubuntu' : 'debian', suite: codename(profile.os), arch, variant: 'minbase', components: profile.os.name === 'debian' ? ['main'] : [], include: [...include] });
}

const run = (argv: string[], extra: Partial<Extract<Action, { kind: 'run' }>> = {}): Action => ({ kind: 'run', argv, ...extra });
const APT_ENV = { DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C.UTF-8' };

export function debianSteps(profile: Profile, layout: Layout, spec: InstallSpec): Step[] {
  const t = spec.target;
  const mirror = profile.mirror ?? spec.mirror;
  // The agent's proxy stands in for the seed's mirror only: a profile's own mirror is used as is.
  const installMirror = profile.mirror ?? spec.installMirror ?? spec.mirror;
  const aptOpts = !profile.mirror && spec.aptProxy ? ['-o', `Acquire::http::Proxy=${spec.aptProxy}`] : [];
  const suite = codename(profile.os);
  const done = `${t}/var/lib/lpmos/os.done`;
  const include = basePackages(profile, layout, spec);
  const boot = bootTargets(layout, spec);
  const nics = nicNames(profile.network.interfaces, spec.bootNic);
  const hostname = spec.hostname;
  const hasUsers = profile.users.length > 0 || profile.sshKeys.length > 0;
  // The seed builds from its own mirror: a profile naming another mirror is installed from that one, here.
  const fromSeed = profile.rootBuild === 'seed' && spec.rootImages === true && !profile.mirror;

  // A debootstrap (or an unpack) killed half-way leaves a root it cannot continue: start over from an empty one.
  const clean: Action = { kind: 'clean', dir: t, keep: mountOrder(layout.filesystems).map((f) => targetPath(t, f.mount ?? '/')).filter((d) => d !== t) };
  const image = fromSeed ? rootImageSpecFor(profile, layout, spec) : undefined;
  const os: Step = image ? {
    id: 'os', kind: 'os', title: `unpack ${profile.os.name} ${suite} built by the seed (${image.include.length} packages asked for)`,
    check: { kind: 'file', path: done, ok: (c) => c !== undefined },
    actions: () => [clean, { kind: 'rootfs', spec: image, target: t }, { kind: 'write', path: done, content: `${image.include.join(' ')}\n` }],
  } : {
    id: 'os', kind: 'os', title: `debootstrap ${profile.os.name} ${suite} (${include.length} extra packages)`,
    check: { kind: 'file', path: done, ok: (c) => c !== undefined },
    actions: () => [
      clean,
      // Debian: the package set is resolved by the agent (debootstrap's rules, resolve.ts); Ubuntu's
      // debootstrap scripts choose differently, so debootstrap resolves those itself.
      { kind: 'debootstrap', suite, arch: profile.os.arch, variant: 'minbase', components: profile.os.name === 'debian' ? ['main'] : [], include,
        mirror: installMirror, target: t, ...(spec.cacheDir ? { cacheDir: spec.cacheDir } : {}), resolve: profile.os.name === 'debian',
        // Through the agent's proxy only: fetched ahead from the seed's mirror itself, every file would cross twice.
        prefetch: !profile.mirror && spec.installMirror !== undefined },
      { kind: 'write', path: done, content: `${include.join(' ')}\n` },
    ],
  };

  const configure: Step = {
    id: 'configure', kind: 'configure', title: `configure ${hostname}`, chroot: true,
    actions: (facts) => {
      const a: Action[] = [
        { kind: 'write', path: `${t}/etc/hostname`, content: renderHostname(hostname) },
        { kind: 'write', path: `${t}/etc/hosts`, content: renderHosts(hostname, profile.network.domain) },
        { kind: 'write', path: `${t}/etc/fstab`, content: renderFstab(layout.filesystems, facts.uuids) },
        { kind: 'write', path: `${t}/etc/apt/sources.list`, content: renderSources(profile.os, mirror, suite) },
        // No hibernation target: without this, initramfs-tools guesses a swap and the boot waits for it.
        { kind: 'write', path: `${t}/etc/initramfs-tools/conf.d/resume`, content: 'RESUME=none\n' },
        ...nics.filter((n) => n.mac).map((n): Action => ({ kind: 'write', path: `${t}/etc/systemd/network/10-lpmos-${n.name}.link`, content: renderLinkFile(n) })),
        profile.os.name === 'ubuntu'
          ? { kind: 'write', path: `${t}/etc/netplan/50-lpmos.yaml`, content: renderNetplan(profile.network.interfaces, nics), mode: 0o600 }
          : { kind: 'write', path: `${t}/etc/network/interfaces`, content: renderInterfaces(profile.network.interfaces, nics) },
      ];
      if (profile.rootPasswordHash) a.push(run(['chpasswd', '-e'], { input: `root:${profile.rootPasswordHash}\n` }));
      if (profile.sshKeys.length) a.push({ kind: 'write', path: `${t}/root/.ssh/authorized_keys`, content: `${profile.sshKeys.join('\n')}\n`, mode: 0o600 });
      for (const u of profile.users) {
        a.push(run(['sh', '-c', 'id -u "$1" >/dev/null 2>&1 || useradd --create-home --shell "$2" --user-group "$1"', 'lpmos-useradd', u.name, u.shell]));
        const groups = [...u.groups, ...(u.sudo ? ['sudo'] : [])];
        if (groups.length) a.push(run(['usermod', '--append', '--groups', groups.join(','), u.name]));
        if (u.passwordHash) a.push(run(['chpasswd', '-e'], { input: `${u.name}:${u.passwordHash}\n` }));
        if (u.sudo) a.push({ kind: 'write', path: `${t}/etc/sudoers.d/lpmos-${u.name}`, content: renderSudoers(u.name), mode: 0o440 });
        if (u.sshKeys.length) {
          a.push({ kind: 'write', path: `${t}/home/${u.name}/.ssh/authorized_keys`, content: `${u.sshKeys.join('\n')}\n`, mode: 0o600 });
          a.push(run(['chown', '-R', `${u.name}:${u.name}`, `/home/${u.name}/.ssh`]), run(['chmod', '700', `/home/${u.name}/.ssh`]));
        }
      }
      if (hasUsers) a.push(run(['sh', '-c', 'test ! -d /root/.ssh || chmod 700 /root/.ssh']));
      if (layout.raid.length) {
        // The initramfs assembles the root array from these ARRAY lines (mdadm.conf(5)).
        a.push(run(['sh', '-c', 'mkdir -p /etc/mdadm && { echo "HOMEHOST <ignore>"; echo "MAILADDR root"; mdadm --detail --scan; } > /etc/mdadm/mdadm.conf']));
      }
      if (fromSeed) {
        // What the seed's image left out on purpose (root-image.ts): this machine's own identity.
        a.push(run(['sh', '-c', 'rm -f /etc/machine-id /var/lib/dbus/machine-id && systemd-machine-id-setup >/dev/null']));
        a.push(run(['sh', '-c', 'test ! -x /usr/bin/ssh-keygen || ssh-keygen -A']));
      } else if (profile.packages.length) {
        a.push(run(['apt-get', ...aptOpts, 'update'], { env: APT_ENV }), run(['apt-get', ...aptOpts, 'install', '-y', '--no-install-recommends', ...profile.packages], { env: APT_ENV }));
      }
      if (spec.seedUrl) {
        a.push(
          { kind: 'write', path: `${t}${FIRSTBOOT_SCRIPT}`, content: renderFirstbootScript(spec.seedUrl, spec.machine), mode: 0o755 },
          { kind: 'write', path: `${t}/etc/systemd/system/lpmos-firstboot.service`, content: renderFirstbootUnit() },
          run(['systemctl', 'enable', 'lpmos-firstboot.service']),
        );
      }
      profile.postInstall.forEach((s, i) => {
        const file = `/var/lib/lpmos/post-install-${i}`;
        a.push({ kind: 'write', path: `${t}${file}`, content: s.script, mode: 0o700 });
        a.push(s.chroot ? run([s.interpreter, file], { env: { LPMOS_MACHINE: spec.machine } }) : run([s.interpreter, `${t}${file}`], { host: true, env: { TARGET: t, LPMOS_MACHINE: spec.machine } }));
      });
      // The initramfs, built once here (debootstrap's was diverted, debootstrap.ts); arrays, volume
      // groups and link files must be known to the initramfs that mounts the root.
      // A seed-built root has an initramfs for any machine (MODULES=most; mdadm and LVM hooks, which
      // assemble and activate what they find): no rebuild, which takes 15+ minutes in an emulated machine.
      const rebuild = !fromSeed && (layout.raid.length > 0 || layout.vgs.length > 0 || nics.some((n) => n.mac));
      a.push(run(['sh', '-c', INITRAMFS_SCRIPT, 'lpmos-initramfs', rebuild ? 'yes' : 'no']));
      return a;
    },
  };

  const espIds = new Set(layout.partitions.filter((p) => p.type === 'esp').map((p) => p.id));
  const otherEsps = boot.efi ? layout.filesystems.filter((f) => f.type === 'vfat' && espIds.has(f.source) && f.mount && f.mount !== '/boot/efi').map((f) => f.mount ?? '') : [];
  const bootloader: Step = {
    id: 'bootloader', kind: 'bootloader', title: `install GRUB (${[...(boot.bios.length ? [`BIOS on ${boot.bios.join(', ')}`] : []), ...(boot.efi ? ['UEFI'] : [])].join(', ')})`, chroot: true,
    actions: (facts) => [
      { kind: 'write', path: `${t}/etc/default/grub.d/lpmos.cfg`, content: renderGrubDefaults(spec.kernelCmdline ?? profile.kernelCmdline) },
      ...boot.bios.map((disk) => run(['grub-install', '--target=i386-pc', disk])),
      ...(boot.efi
        ? [
          // The named entry (and an NVRAM boot entry when the firmware's variables are reachable)...
          run(['grub-install', '--target=x86_64-efi', '--efi-directory=/boot/efi', '--bootloader-id=debian', ...(spec.firmware === 'uefi' && facts.efivars ? [] : ['--no-nvram'])]),
          // ...and the removable-media path EFI/BOOT/BOOTX64.EFI, which firmware boots without NVRAM (OVMF's fresh vars).
          run(['grub-install', '--target=x86_64-efi', '--efi-directory=/boot/efi', '--removable', '--no-nvram']),
        ]
        : []),
      // Further ESPs (one per disk of a RAID 1, mounted at /boot/efi2 …) get the same loaders, so
      // the machine boots from either disk alone.
      ...otherEsps.map((m) => run(['sh', '-c', 'rm -rf "$2/EFI" && cp -r "$1/EFI" "$2/"', 'lpmos-esp-copy', '/boot/efi', m])),
      run(['update-grub']),
    ],
  };
  return [os, configure, bootloader];
}
