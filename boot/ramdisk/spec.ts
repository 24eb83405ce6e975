// What goes into the agent ramdisk: the Debian packages, what is pruned from the root, which kernel
// modules are kept. Pure: no I/O (the builder is build.ts).

/**
 * Tools the agent runs (issue 5), plus what the ramdisk's init needs (busybox for udhcpc, kmod for
 * modprobe); fdisk for sfdisk, with which the installer writes MBR tables and checks partitions.
 */
export const RAMDISK_PACKAGES: readonly string[] = [
  'mdadm', 'gdisk', 'fdisk', 'parted', 'e2fsprogs', 'xfsprogs', 'btrfs-progs', 'dosfstools', 'lvm2', 'debootstrap',
  'kexec-tools', 'grub-pc-bin', 'grub-efi-amd64-bin', 'efibootmgr', 'dmidecode', 'pciutils', 'ethtool',
  'smartmontools', 'iproute2', 'udev', 'busybox', 'kmod',
];

export const SUITE = 'bookworm';

/** Never unpacked (dpkg path-exclude): documentation, manuals, translations. */
export const DPKG_PATH_EXCLUDES: readonly string[] = [
  '/usr/share/doc/*', '/usr/share/man/*', '/usr/share/info/*', '/usr/share/locale/*', '/usr/share/lintian/*',
  '/usr/share/linda/*', '/usr/share/bug/*', '/usr/share/bash-completion/*', '/usr/share/zsh/*',
];

/** Removed after the packages are configured (root-relative): apt's caches and lists, logs, the dpkg backups. */
export const PRUNE_PATHS: readonly string[] = [
  'var/cache/apt', 'var/lib/apt/lists', 'var/cache/debconf/templates.dat-old', 'var/lib/dpkg/status-old',
  'var/log', 'usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale', 'var/cache/ldconfig',
  // The sources of udev's hardware database: hwdb.bin, compiled from them, stays (9 MB).
  'usr/lib/udev/hwdb.d',
  // GRUB's prebuilt monolithic EFI images (CD, netboot) for installer media; grub-install builds its own core
  // image from the modules next to them (16 MB).
  'usr/lib/grub/x86_64-efi/monolithic',
];

/**
 * Kernel modules kept (paths under lib/modules/<release>/kernel/): storage, network, RAID and filesystem
 * drivers and what they need; the dependency closure is added from each module's `depends=`.
 * Everything else (GPU, sound, media, wireless, bluetooth, staging …) is dropped.
 */
export const MODULE_KEEP_PREFIXES: readonly string[] = [
  // storage controllers and disks
  'drivers/ata/', 'drivers/scsi/', 'drivers/nvme/', 'drivers/block/', 'drivers/message/fusion/', 'drivers/md/',
  'drivers/mmc/', 'drivers/usb/storage/', 'drivers/usb/host/', 'drivers/virtio/', 'drivers/pci/controller/',
  'drivers/hv/', 'drivers/dca/', 'drivers/dma/ioat/', 'drivers/nvdimm/',
  // network cards (wired), bonding, VLANs, bridges
  'drivers/net/ethernet/', 'drivers/net/phy/', 'drivers/net/mdio/', 'drivers/net/pcs/', 'drivers/net/bonding/',
  'drivers/net/team/', 'drivers/net/virtio_net.ko', 'drivers/net/net_failover.ko', 'drivers/net/mii.ko',
  'drivers/net/macvlan.ko', 'drivers/net/vxlan/', 'drivers/net/hyperv/', 'drivers/net/vmxnet3/', 'drivers/net/dummy.ko',
  'drivers/net/veth.ko', 'drivers/ptp/', 'drivers/pps/', 'net/8021q/', 'net/802/', 'net/llc/', 'net/bridge/',
  'net/packet/', 'net/ipv6/', 'net/core/', 'net/sched/',
  // consoles: USB keyboards on real servers and KVM switches
  'drivers/hid/', 'drivers/input/keyboard/', 'drivers/input/serio/', 'drivers/tty/serial/', 'drivers/char/ipmi/',
  // filesystems, RAID math, checksums, crypto used by dm-crypt/btrfs
  'fs/ext4/', 'fs/jbd2/', 'fs/mbcache.ko', 'fs/xfs/', 'fs/btrfs/', 'fs/fat/', 'fs/nls/', 'fs/isofs/', 'fs/squashfs/',
  'fs/overlayfs/', 'fs/efivarfs/', 'fs/udf/', 'lib/', 'crypto/', 'arch/x86/crypto/', 'drivers/firmware/',
];

/** Never kept, also when something matched above pulls them in only by prefix. */
export const MODULE_DROP_PREFIXES: readonly string[] = ['drivers/net/wireless/', 'drivers/scsi/fcoe/', 'drivers/usb/host/xen'];

/** Module name as the kernel sees it: file name without `.ko[.xz|.zst]`, `-` → `_`. */
export function moduleName(path: string): string {
  const base = path.split('/').at(-1) ?? path;
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replaceAll('-', '_');
}

/** Whether a module (path under the release's `kernel/` dir) is kept by prefix. */
export function keepModuleByPath(rel: string): boolean {
  if (MODULE_DROP_PREFIXES.some((p) => rel.startsWith(p))) return false;
  return MODULE_KEEP_PREFIXES.some((p) => rel === p || (p.endsWith('/') && rel.startsWith(p)));
}

/** The `depends=` field of a module's .modinfo section (NUL-separated `key=value` strings in the ELF file). */
export function modinfoDepends(ko: Uint8Array): string[] {
  const needle = Buffer.from('\0depends=');
  const buf = Buffer.from(ko.buffer, ko.byteOffset, ko.byteLength);
  const at = buf.indexOf(needle);
  if (at < 0) return [];
  const start = at + needle.length;
  const end = buf.indexOf(0, start);
  const value = buf.subarray(start, end < 0 ? buf.length : end).toString('latin1');
  return value.split(',').map((s) => s.trim().replaceAll('-', '_')).filter((s) => s.length > 0);
}

/**
 * The kept set: every module kept by path, plus the transitive closure of their dependencies.
 * `paths` are the module files (relative to `kernel/`); `depsOf` returns a module's dependencies by name.
 * Throws nothing on an unknown dependency (it may be built in); it is reported in `missing`.
 */
export function moduleClosure(paths: readonly string[], depsOf: (path: string) => readonly string[]): { keep: string[]; missing: string[] } {
  const byName = new Map(paths.map((p) => [moduleName(p), p] as const));
  const keep = new Set<string>();
  const missing = new Set<string>();
  const queue = paths.filter(keepModuleByPath);
  while (queue.length > 0) {
    const p = queue.pop() as string;
    if (keep.has(p)) continue;
    keep.add(p);
    for (const dep of depsOf(p)) {
      const dp = byName.get(dep);
      if (dp === undefined) missing.add(dep);
      else if (!keep.has(dp)) queue.push(dp);
    }
  }
  return { keep: [...keep].sort(), missing: [...missing].sort() };
}

/** Deb822 stanzas or one-line entries of the host's apt sources that point at a Debian archive (mmdebstrap gets only these). */
export function debianSources(text: string, deb822: boolean): string {
  const isDebian = (uri: string) => /\/debian(-security|-ports)?\/?(\s|$)/.test(`${uri} `) || /debian\.org/.test(uri);
  if (!deb822) {
    return text.split('\n').filter((l) => /^\s*deb\s/.test(l) && l.split(/\s+/).some(isDebian)).map((l) => l.trim()).join('\n');
  }
  const stanzas = text.split(/\n\s*\n/);
  const keep = stanzas.filter((s) => {
    const lines = s.split('\n').filter((l) => !l.trimStart().startsWith('#'));
    const uris = lines.find((l) => /^URIs:/i.test(l));
    const enabled = !lines.some((l) => /^Enabled:\s*no/i.test(l));
    const types = lines.find((l) => /^Types:/i.test(l)) ?? '';
    return enabled && uris !== undefined && types.slice(6).trim().split(/\s+/).includes('deb') && uris.slice(5).trim().split(/\s+/).some(isDebian);
  });
  return keep.map((s) => s.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n').trim()).join('\n\n');
}

/**
 * Purged after the install, dependencies ignored: usrmerge (and the perl it pulls) only converts a root
 * that is merged already, python3 and ICU only serve xfs_scrub/xfs_scrub_all. perl-base stays (debootstrap).
 */
export const PURGE_PACKAGES: readonly string[] = [
  'usrmerge', 'libfile-find-rule-perl', 'libnumber-compare-perl', 'libtext-glob-perl', 'perl', 'libperl5.36',
  'perl-modules-5.36', 'python3', 'python3.11', 'python3-minimal', 'python3.11-minimal', 'libpython3-stdlib',
  'libpython3.11-stdlib', 'libpython3.11-minimal', 'libicu72', 'media-types', 'tzdata',
];

/** Files of purged packages' users that would only fail: xfs_scrub needs ICU. */
export const PRUNE_AFTER_PURGE: readonly string[] = ['usr/sbin/xfs_scrub', 'usr/sbin/xfs_scrub_all', 'usr/lib/systemd/system'];

/** Everything that shapes the base layer: a change to any of it rebuilds the layer. */
export function baseRecipe(): Record<string, unknown> {
  return {
    suite: SUITE, packages: RAMDISK_PACKAGES, excludes: DPKG_PATH_EXCLUDES, prune: PRUNE_PATHS, purge: PURGE_PACKAGES,
    pruneAfterPurge: PRUNE_AFTER_PURGE, recipe: 1,
  };
}

export function moduleRecipe(): Record<string, unknown> {
  return { keep: MODULE_KEEP_PREFIXES, drop: MODULE_DROP_PREFIXES, recipe: 2 };
}
