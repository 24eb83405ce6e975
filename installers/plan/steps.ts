// The install plan (issue 6): profile + resolved layout + per-machine spec → ordered, idempotent
// steps with stable ids. Pure. Order: check-disks → wipe → partition → raid → lvm → (activate) →
// mkfs → mount → os → configure → bootloader → unmount → done. Nothing here touches a disk.
import type { Profile } from '../../core/model/profile.ts';
import { debianSteps } from '../debian/steps.ts';
import { GPT_TYPES, diskProbeArgv, diskRefusal, parseDiskProbe, parseMounts, tableMatches } from './probes.ts';
import { MiB, type Layout, type ResolvedFs, type ResolvedPartition } from './layout.ts';
import { mountOrder, targetPath } from './mounts.ts';
import type { Action, Check, InstallSpec, Step } from './types.ts';

const EXTENT = 4 * MiB;
/** Stops md arrays and removes device-mapper devices (LVM, crypt) stacked on a disk. */
export const RELEASE_HOLDERS = 'lsblk -lnpo PATH,TYPE -- "$1" | tac | while read -r dev type; do case "$type" in raid*) mdadm --stop "$dev" 2>/dev/null || true ;; lvm|crypt|dm) dmsetup remove --retry "$dev" 2>/dev/null || true ;; esac; done';
const run = (argv: string[], extra: Partial<Extract<Action, { kind: 'run' }>> = {}): Action => ({ kind: 'run', argv, ...extra });

/** sgdisk arguments for one GPT partition: exact MiB start and size (layout.ts aligns to 1 MiB). */
function gptArgs(p: ResolvedPartition): string[] {
  return [`--new=${p.number}:${p.start / MiB}M:+${p.size / MiB}M`, `--typecode=${p.number}:${GPT_TYPES[p.type].code}`, `--change-name=${p.number}:${p.id}`];
}

/** sfdisk script (sfdisk(8) "Input format") for an MBR table; the partition holding /boot or / is marked bootable. */
export function mbrScript(parts: ResolvedPartition[], bootable: string | undefined): string {
  const lines = parts.map((p) => `start=${p.start / MiB}MiB, size=${p.size / MiB}MiB, type=${GPT_TYPES[p.type].mbr}${p.id === bootable ? ', bootable' : ''}`);
  return ['label: dos', ...lines, ''].join('\n');
}

export function mkfsArgv(fs: ResolvedFs): string[] {
  const label = fs.label;
  switch (fs.type) {
    case 'ext4': return ['mkfs.ext4', '-F', '-q', ...(label ? ['-L', label] : []), fs.device];
    case 'xfs': return ['mkfs.xfs', '-f', '-q', ...(label ? ['-L', label] : []), fs.device];
    case 'btrfs': return ['mkfs.btrfs', '-f', '-q', ...(label ? ['-L', label] : []), fs.device];
    case 'vfat': return ['mkfs.vfat', '-F', '32', ...(label ? ['-n', label.toUpperCase().slice(0, 11)] : []), fs.device];
    case 'swap': return ['mkswap', '-f', ...(label ? ['-L', label] : []), fs.device];
  }
}

function storageSteps(profile: Profile, layout: Layout, spec: InstallSpec): Step[] {
  const s = profile.storage;
  const steps: Step[] = [];
  const wipeOf = new Map(s.disks.map((d) => [d.id, d.wipe]));

  steps.push({
    id: 'check-disks', kind: 'check-disks', title: 'check that the target disks may be written',
    actions: () => layout.disks.map((d) => ({ kind: 'assert', argv: diskProbeArgv(d.device), fail: (out: string) => diskRefusal(d.id, d.device, parseDiskProbe(out), wipeOf.get(d.id) ?? false) })),
  });

  for (const d of layout.disks) {
    if (!wipeOf.get(d.id)) continue;
    steps.push({
      id: `wipe:${d.id}`, kind: 'wipe', title: `wipe ${d.device}`,
      // wipefs on every device on the disk first (old filesystems, RAID and LVM labels inside the
      // partitions), then the disk itself; sgdisk --zap-all also removes the GPT backup at the end.
      actions: () => [
        // A previous install's arrays and volume groups, if something assembled them, hold the
        // partitions open: stop them first (holders are listed after their members, so tac).
        run(['sh', '-c', RELEASE_HOLDERS, 'lpmos-release', d.device]),
        run(['sh', '-c', 'for d in $(lsblk -lnpo PATH -- "$1" | tac); do wipefs --all --force -- "$d"; done', 'lpmos-wipe', d.device]),
        run(['sgdisk', '--zap-all', d.device], { okCodes: [0, 2] }),
        run(['partx', '-d', d.device], { okCodes: [0, 1] }),
      ],
    });
  }

  const rootDisk = layout.filesystems.find((f) => f.mount === '/boot') ?? layout.filesystems.find((f) => f.mount === '/');
  for (const d of layout.disks) {
    const parts = layout.partitions.filter((p) => p.disk === d.id);
    if (!parts.length) continue;
    const table = layout.partitionTable;
    const bootable = parts.find((p) => p.id === rootDisk?.source)?.id ?? parts.find((p) => p.type === 'linux' || p.type === 'raid')?.id;
    const write: Action[] = table === 'gpt'
      ? [run(['sgdisk', '--zap-all', d.device], { okCodes: [0, 2] }), run(['sgdisk', ...parts.flatMap(gptArgs), d.device])]
      : [run(['sfdisk', '--wipe', 'always', '--no-reread', d.device], { input: mbrScript(parts, bootable) })];
    steps.push({
      id: `partition:${d.id}`, kind: 'partition', title: `partition ${d.device} (${table.toUpperCase()}, ${parts.length} partitions)`,
      check: { kind: 'run', argv: ['sfdisk', '--json', d.device], ok: (out, code) => code === 0 && tableMatches(out, table, parts) },
      actions: () => [
        ...write,
        // Tell the kernel with BLKPG (partx) rather than a re-read: works without the kernel's
        // partition parsers and while other disks are busy.
        run(['partx', '-u', d.device], { okCodes: [0, 1] }),
        run(['partx', '-a', d.device], { okCodes: [0, 1] }),
        // Old signatures at the same offsets would make blkid, mdadm or LVM see a previous install.
        ...parts.map((p) => run(['wipefs', '--all', '--force', p.device])),
      ],
    });
  }

  for (const r of layout.raid) {
    steps.push({
      id: `raid:${r.id}`, kind: 'raid', title: `create RAID ${r.level} ${r.device} on ${r.members.join(', ')}`,
      check: { kind: 'run', argv: ['mdadm', '--detail', '--export', r.device], ok: (out, code) => code === 0 && out.includes(`MD_LEVEL=raid${r.level}`) },
      actions: () => [
        ...[...r.members, ...r.spares].map((m) => run(['wipefs', '--all', '--force', m])),
        // --run: no "continue creating array?" question; --homehost=any keeps the name stable when the
        // installed system has another hostname than the agent.
        run(['mdadm', '--create', r.device, '--run', `--metadata=${r.metadata}`, `--level=${r.level}`, `--raid-devices=${r.members.length}`,
          ...(r.spares.length ? [`--spare-devices=${r.spares.length}`] : []), '--homehost=any', `--name=${r.id}`, ...r.members, ...r.spares]),
      ],
    });
  }

  for (const vg of layout.vgs) {
    const lvs = layout.lvs.filter((l) => l.vg === vg.name);
    steps.push({
      id: `lvm:${vg.name}`, kind: 'lvm', title: `create volume group ${vg.name} with ${lvs.length} logical volumes`,
      check: { kind: 'run', argv: ['lvs', '--noheadings', '-o', 'lv_name', vg.name], ok: (out, code) => code === 0 && lvs.every((l) => out.split(/\s+/).includes(l.name)) },
      actions: () => [
        run(['pvcreate', '-ff', '-y', ...vg.pvs]),
        run(['vgcreate', '-y', '-s', '4m', vg.name, ...vg.pvs]),
        // Exact extents (-l) as layout.ts computed them; -W y wipes signatures, -Z y zeroes the start.
        ...lvs.map((l) => run(['lvcreate', '-y', '-W', 'y', '-Z', 'y', '-l', String(l.size / EXTENT), '-n', l.name, vg.name])),
      ],
    });
  }

  if (layout.raid.length || layout.vgs.length) {
    const devices = [...layout.raid.map((r) => r.device), ...layout.lvs.map((l) => l.device)];
    steps.push({
      id: 'activate', kind: 'activate', title: 'assemble arrays and activate volume groups', volatile: true,
      check: { kind: 'all', checks: devices.map((d): Check => ({ kind: 'exists', path: d })) },
      actions: () => [
        ...(layout.raid.length ? [run(['mdadm', '--assemble', '--scan'], { okCodes: [0, 1, 2] })] : []),
        ...(layout.vgs.length ? [run(['vgchange', '-ay', ...layout.vgs.map((v) => v.name)])] : []),
      ],
    });
  }

  for (const f of layout.filesystems) {
    steps.push({
      // No check: an old filesystem of the same type can sit at the same offset (a RAID of the
      // same geometry as the last install's), so mkfs runs unless the checkpoint says it ran.
      id: `mkfs:${f.source}`, kind: 'mkfs', title: `make ${f.type} on ${f.device}`,
      actions: () => [run(mkfsArgv(f))],
    });
  }

  const mounts = mountOrder(layout.filesystems);
  steps.push({
    id: 'mount', kind: 'mount', title: `mount the new system under ${spec.target}`, volatile: true,
    check: { kind: 'file', path: '/proc/mounts', ok: (c) => c !== undefined && mounts.every((m) => parseMounts(c).some((e) => e.dir === targetPath(spec.target, m.mount ?? '/'))) },
    actions: () => mounts.map((m) => ({ kind: 'mount', device: m.device, dir: targetPath(spec.target, m.mount ?? '/'), type: m.type, ...(m.options ? { options: m.options } : {}) })),
  });
  return steps;
}

export function buildSteps(profile: Profile, layout: Layout, spec: InstallSpec): Step[] {
  const target = spec.target;
  return [
    ...storageSteps(profile, layout, spec),
    ...debianSteps(profile, layout, spec),
    {
      id: 'unmount', kind: 'unmount', title: `unmount ${target}`, volatile: true,
      check: { kind: 'file', path: '/proc/mounts', ok: (c) => c !== undefined && !parseMounts(c).some((e) => e.dir === target || e.dir.startsWith(`${target}/`)) },
      actions: () => [run(['sync']), run(['umount', '--recursive', target])],
    },
    { id: 'done', kind: 'done', title: 'installed', actions: () => [run(['sync'])] },
  ];
}
