// The install plan as data: ordered steps, each a list of actions (argv arrays, files to write)
// and a check that tells whether its effect is already there. Built by pure functions
// (steps.ts); only the runner's executor touches disks. Keeping commands as data is what lets
// the unit tests read exactly what would run, and lets a restarted agent skip finished steps.
import type { RootImageSpec } from '../debian/root-image.ts';

/** Where and how to install: the per-machine part of a plan, next to the profile and the layout. */
export interface InstallSpec {
  /** Machine id, for the first-boot report. */
  machine: string;
  /** How the machine booted (inventory.bootMode): decides which GRUB is required. */
  firmware: 'bios' | 'uefi';
  /** Base URL of the seed (`http://10.0.0.1:8080`); the first-boot unit POSTs to it. Optional in tests. */
  seedUrl?: string;
  /**
   * Debian mirror of the installed system (`http://seed/mirror/debian`): its apt sources. Also what the
   * install uses unless `installMirror` is set. The profile's `mirror` wins over both.
   */
  mirror: string;
  /**
   * Mirror debootstrap installs from, when it differs from `mirror`: the agent's apt proxy
   * (`http://127.0.0.1:P/mirror/debian`), which gets package files through the swarm.
   */
  installMirror?: string;
  /**
   * HTTP proxy apt uses inside the target while installing (the agent's apt proxy), so the packages of
   * the configure step come through the swarm too while the sources keep naming `mirror`.
   */
  aptProxy?: string;
  /** Mount point of the new root; `/target` on the agent. */
  target: string;
  /** Package cache for debootstrap (`--cache-dir`), so a second install does not download again. */
  cacheDir?: string;
  hostname: string;
  kernelCmdline?: string;
  /**
   * The agent can get roots built by the seed (installers/debian/root-image.ts): a profile with
   * `rootBuild: seed` (the default) then unpacks one instead of running debootstrap here.
   */
  rootImages?: boolean;
  /** The NIC the machine booted from (inventory + BOOTIF), for interfaces with `match: boot`. */
  bootNic?: { name?: string; mac?: string };
}

/** Facts learned on the machine between steps (UUIDs exist only after mkfs). */
export interface Facts {
  /** Filesystem UUID by device path (blkid). */
  uuids: Record<string, string>;
  /** /sys/firmware/efi/efivars exists: boot entries can be written. */
  efivars: boolean;
}

export type Action =
  /**
   * Run a program; `input` goes to stdin. In a `chroot` step it runs inside the target (with /proc,
   * /sys, /dev, /run mounted) unless `host` is set.
   */
  | { kind: 'run'; argv: string[]; input?: string; env?: Record<string, string>; okCodes?: number[]; progress?: 'debootstrap'; host?: boolean }
  /**
   * debootstrap (debian/debootstrap.ts builds its argv). `resolve`: the executor works out the package
   * set itself from the mirror's Packages index (debian/resolve.ts, debootstrap's own rules) and runs
   * debootstrap with --no-resolve-deps — debootstrap's resolution loop takes minutes of CPU on a slow
   * or emulated machine; debootstrap resolves itself when that index cannot be had.
   */
  | { kind: 'debootstrap'; suite: string; arch: string; variant: 'minbase'; components: string[]; include: string[]; mirror: string; target: string; cacheDir?: string; resolve: boolean;
    /** Fetch the resolved package files ahead, several at once (the mirror is the agent's apt proxy, which keeps them). */
    prefetch?: boolean }
  /** Unpack the root image the seed built for `spec` into `target` (the executor's RootImageSource fetches it). */
  | { kind: 'rootfs'; spec: RootImageSpec; target: string }
  /** Write a file (path on the host; under the target for the new system). */
  | { kind: 'write'; path: string; content: string; mode?: number }
  /**
   * Remove what a killed debootstrap left in `dir`: everything except the `keep` directories (the
   * layout's mount points, emptied but kept), never crossing into another filesystem.
   */
  | { kind: 'clean'; dir: string; keep: string[] }
  /** Mount a filesystem (mkdir -p first); a vfat ESP on a kernel without vfat goes through fusefat (executor). */
  | { kind: 'mount'; device: string; dir: string; type: string; options?: string }
  /** Fail with `message` when the probe's output shows something (used by check-disks). */
  | { kind: 'assert'; argv: string[]; fail: (stdout: string) => string | undefined };

/** How to tell that a step's effect is present. Pure predicates over probe output. */
export type Check =
  | { kind: 'run'; argv: string[]; ok: (stdout: string, code: number) => boolean }
  | { kind: 'file'; path: string; ok: (content: string | undefined) => boolean }
  | { kind: 'exists'; path: string }
  | { kind: 'all'; checks: Check[] };

export type StepKind = 'check-disks' | 'wipe' | 'partition' | 'raid' | 'lvm' | 'activate' | 'mkfs' | 'mount' | 'os' | 'configure' | 'bootloader' | 'unmount' | 'done';

export interface Step {
  /** Stable id (`partition:d0`, `mkfs:root`): the checkpoint records these. */
  id: string;
  kind: StepKind;
  /** Human text for progress events. */
  title: string;
  /**
   * State of the running kernel (mounts, assembled arrays), lost when the agent restarts: such a
   * step runs again unless its check says it holds, even when the checkpoint lists it as done.
   */
  volatile?: boolean;
  /** Runs its `run` actions inside the target, with the API filesystems mounted (and always unmounted). */
  chroot?: boolean;
  check?: Check;
  /** Pure: the actions, given what is known by now. */
  actions: (facts: Facts) => Action[];
}
