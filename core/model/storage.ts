// Disk layout of a profile: target disks chosen by hints (as Ironic's root device hints), partitions,
// mdadm RAID, LVM and filesystems. Cross-references are checked here so that a layout that cannot
// be built is refused when it is applied, long before a disk is touched.
import { z } from 'zod';
import { sizeSchema } from './common.ts';

const refSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'ids are lower-case letters, digits, "_" and "-"');

export const diskHintsSchema = z.strictObject({
  name: z.string().optional(),
  model: z.string().optional(),
  vendor: z.string().optional(),
  serial: z.string().optional(),
  wwn: z.string().optional(),
  byPath: z.string().optional(),
  rotational: z.boolean().optional(),
  minSize: sizeSchema.optional(),
  maxSize: sizeSchema.optional(),
});

export const diskSchema = z.strictObject({
  id: refSchema,
  match: diskHintsSchema.default({}),
  /** Existing data on the disk may be destroyed; without it a disk that holds data fails the install. */
  wipe: z.boolean().default(false),
});

export const partitionSchema = z.strictObject({
  id: refSchema,
  disk: refSchema,
  size: sizeSchema,
  type: z.enum(['linux', 'esp', 'bios-boot', 'swap', 'raid', 'lvm']).default('linux'),
});

export const raidSchema = z.strictObject({
  id: refSchema,
  level: z.union([z.literal(0), z.literal(1), z.literal(5), z.literal(6), z.literal(10)]),
  members: z.array(refSchema).min(1),
  spares: z.array(refSchema).default([]),
  metadata: z.enum(['1.0', '1.2']).default('1.2'),
});

export const lvSchema = z.strictObject({ name: refSchema, size: sizeSchema });
export const vgSchema = z.strictObject({
  name: refSchema,
  pvs: z.array(refSchema).min(1),
  lvs: z.array(lvSchema).min(1),
});

export const filesystemSchema = z.strictObject({
  /** A partition id, a RAID id, or `vg/lv`. */
  device: z.string().min(1),
  type: z.enum(['ext4', 'xfs', 'btrfs', 'vfat', 'swap']),
  mount: z.string().regex(/^\/[^\s]*$/, 'mount points are absolute paths').optional(),
  label: z.string().max(16).optional(),
  options: z.string().optional(),
});

export const storageSchema = z
  .strictObject({
    partitionTable: z.enum(['gpt', 'mbr']).default('gpt'),
    disks: z.array(diskSchema).min(1),
    partitions: z.array(partitionSchema).default([]),
    raid: z.array(raidSchema).default([]),
    lvm: z.array(vgSchema).default([]),
    filesystems: z.array(filesystemSchema).min(1),
  })
  .superRefine((s, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const ids = new Map<string, string>();
    const declare = (id: string, what: string, path: (string | number)[]) => {
      if (ids.has(id)) issue(path, `id "${id}" is used twice (${ids.get(id)} and ${what})`);
      else ids.set(id, what);
    };
    s.disks.forEach((d, i) => declare(d.id, 'disk', ['disks', i, 'id']));
    s.partitions.forEach((p, i) => declare(p.id, 'partition', ['partitions', i, 'id']));
    s.raid.forEach((r, i) => declare(r.id, 'raid', ['raid', i, 'id']));
    s.lvm.forEach((vg, i) => declare(vg.name, 'volume group', ['lvm', i, 'name']));

    const used = new Map<string, string>();
    const consume = (id: string, by: string, path: (string | number)[]) => {
      if (used.has(id)) issue(path, `"${id}" is already used by ${used.get(id)}`);
      else used.set(id, by);
    };

    s.partitions.forEach((p, i) => {
      if (ids.get(p.disk) !== 'disk') issue(['partitions', i, 'disk'], `"${p.disk}" is not a disk id of this layout`);
    });
    const restPerDisk = new Map<string, number>();
    s.partitions.forEach((p, i) => {
      if ('rest' in p.size) {
        restPerDisk.set(p.disk, (restPerDisk.get(p.disk) ?? 0) + 1);
        if ((restPerDisk.get(p.disk) ?? 0) > 1) issue(['partitions', i, 'size'], `disk "${p.disk}" has more than one "rest" partition`);
      }
    });

    const minMembers: Record<number, number> = { 0: 2, 1: 2, 5: 3, 6: 4, 10: 2 };
    s.raid.forEach((r, i) => {
      r.members.forEach((m, j) => {
        const kind = ids.get(m);
        if (kind !== 'disk' && kind !== 'partition') issue(['raid', i, 'members', j], `"${m}" is not a disk or partition id`);
        else consume(m, `raid "${r.id}"`, ['raid', i, 'members', j]);
      });
      r.spares.forEach((m, j) => {
        const kind = ids.get(m);
        if (kind !== 'disk' && kind !== 'partition') issue(['raid', i, 'spares', j], `"${m}" is not a disk or partition id`);
        else consume(m, `raid "${r.id}"`, ['raid', i, 'spares', j]);
      });
      const need = minMembers[r.level] ?? 2;
      if (r.members.length < need) issue(['raid', i, 'members'], `RAID ${r.level} needs at least ${need} members, has ${r.members.length}`);
    });

    s.lvm.forEach((vg, i) => {
      vg.pvs.forEach((pv, j) => {
        const kind = ids.get(pv);
        if (kind !== 'disk' && kind !== 'partition' && kind !== 'raid') issue(['lvm', i, 'pvs', j], `"${pv}" is not a disk, partition or raid id`);
        else consume(pv, `volume group "${vg.name}"`, ['lvm', i, 'pvs', j]);
      });
      const names = new Set<string>();
      let rest = 0;
      vg.lvs.forEach((lv, j) => {
        if (names.has(lv.name)) issue(['lvm', i, 'lvs', j, 'name'], `logical volume "${lv.name}" appears twice in "${vg.name}"`);
        names.add(lv.name);
        if ('rest' in lv.size && ++rest > 1) issue(['lvm', i, 'lvs', j, 'size'], `volume group "${vg.name}" has more than one "rest" volume`);
      });
    });

    const lvs = new Set(s.lvm.flatMap((vg) => vg.lvs.map((lv) => `${vg.name}/${lv.name}`)));
    const mounts = new Map<string, number>();
    s.filesystems.forEach((f, i) => {
      const kind = ids.get(f.device);
      const ok = lvs.has(f.device) || kind === 'partition' || kind === 'raid' || kind === 'disk';
      if (!ok) issue(['filesystems', i, 'device'], `"${f.device}" is not a partition, raid, disk or vg/lv of this layout`);
      else consume(f.device, `filesystem #${i}`, ['filesystems', i, 'device']);
      if (f.type === 'swap' && f.mount) issue(['filesystems', i, 'mount'], 'swap has no mount point');
      if (f.type !== 'swap' && !f.mount) issue(['filesystems', i, 'mount'], `a ${f.type} filesystem needs a mount point`);
      if (f.mount) {
        if (mounts.has(f.mount)) issue(['filesystems', i, 'mount'], `"${f.mount}" is mounted twice (also filesystem #${mounts.get(f.mount)})`);
        mounts.set(f.mount, i);
      }
    });
    if (!mounts.has('/')) issue(['filesystems'], 'no filesystem is mounted at "/"');
    const esp = s.partitions.filter((p) => p.type === 'esp');
    esp.forEach((p) => {
      const fs = s.filesystems.find((f) => f.device === p.id);
      if (fs && fs.type !== 'vfat') issue(['partitions', s.partitions.indexOf(p), 'type'], `EFI system partition "${p.id}" must hold vfat, not ${fs.type}`);
    });
    if (s.partitionTable === 'mbr' && esp.length === 0 && s.partitions.some((p) => p.type === 'bios-boot')) {
      issue(['partitionTable'], 'a BIOS boot partition is only for GPT disks');
    }
  });

export type Storage = z.infer<typeof storageSchema>;
export type DiskHints = z.infer<typeof diskHintsSchema>;
