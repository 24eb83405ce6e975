// A profile: how to install a machine (DESIGN §2). Written by operators with `lpmos profile apply`.
import { z } from 'zod';
import { cidrSchema, ipv4Schema, nameSchema } from './common.ts';
import { storageSchema } from './storage.ts';

export const OS_FAMILIES = { debian: 'debian', ubuntu: 'debian', rocky: 'rhel', alma: 'rhel', 'centos-stream': 'rhel', rhel: 'rhel' } as const;
export type OsName = keyof typeof OS_FAMILIES;

const sshKey = z.string().regex(/^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+( .*)?$/, 'not an OpenSSH public key');
const cryptHash = z.string().regex(/^\$(1|5|6|y|2[aby]|gy|7)\$\S+$/, 'must be a crypt(3) hash (e.g. from `mkpasswd -m sha-512`), never a clear-text password');

export const userSchema = z.strictObject({
  name: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'not a valid user name'),
  passwordHash: cryptHash.optional(),
  sshKeys: z.array(sshKey).default([]),
  sudo: z.boolean().default(false),
  shell: z.string().default('/bin/bash'),
  groups: z.array(z.string()).default([]),
});

export const interfaceSchema = z
  .strictObject({
    /** Which NIC: the one the machine booted from, or by MAC or name. */
    match: z.union([z.literal('boot'), z.strictObject({ mac: z.string().optional(), name: z.string().optional() })]).default('boot'),
    dhcp: z.boolean().default(true),
    addresses: z.array(cidrSchema).default([]),
    gateway: ipv4Schema.optional(),
    dns: z.array(ipv4Schema).default([]),
    mtu: z.number().int().min(576).max(9216).optional(),
  })
  .refine((i) => i.dhcp || i.addresses.length > 0, { message: 'a static interface (dhcp: false) needs addresses', path: ['addresses'] });

export const scriptSchema = z.strictObject({
  name: z.string().min(1),
  /** Runs inside the installed system (chroot) unless `chroot: false`. */
  script: z.string().min(1),
  interpreter: z.string().default('/bin/sh'),
  chroot: z.boolean().default(true),
});

export const profileSchema = z
  .strictObject({
    kind: z.literal('Profile'),
    name: nameSchema,
    description: z.string().optional(),
    os: z.strictObject({
      name: z.enum(Object.keys(OS_FAMILIES) as [OsName, ...OsName[]]),
      version: z.string().min(1),
      arch: z.enum(['amd64', 'arm64']).default('amd64'),
    }),
    method: z.enum(['auto', 'debootstrap', 'dnf', 'kickstart', 'image']).default('auto'),
    image: z.strictObject({ url: z.url(), sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(), format: z.enum(['raw', 'qcow2']).default('raw') }).optional(),
    mirror: z.url().optional(),
    /**
     * Debian/Ubuntu: where debootstrap runs. `seed` (default): once per package set on the seed, natively,
     * and every machine of the profile unpacks the result (shared through the swarm); `machine`: on each
     * machine (minutes natively, an hour in an emulated one). A profile with its own `mirror` is
     * installed from it on the machine.
     */
    rootBuild: z.enum(['seed', 'machine']).default('seed'),
    storage: storageSchema,
    network: z.strictObject({ hostname: z.string().optional(), domain: z.string().optional(), interfaces: z.array(interfaceSchema).default([{ match: 'boot', dhcp: true, addresses: [], dns: [] }]) }).default({ interfaces: [{ match: 'boot', dhcp: true, addresses: [], dns: [] }] }),
    rootPasswordHash: cryptHash.optional(),
    sshKeys: z.array(sshKey).default([]),
    users: z.array(userSchema).default([]),
    packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.:-]*$/, 'not a package name')).default([]),
    postInstall: z.array(scriptSchema).default([]),
    kernelCmdline: z.string().optional(),
  })
  .superRefine((p, ctx) => {
    if (p.method === 'image' && !p.image) ctx.addIssue({ code: 'custom', path: ['image'], message: 'method "image" needs an image (url, sha256, format)' });
    const family = OS_FAMILIES[p.os.name];
    if (p.method === 'debootstrap' && family !== 'debian') ctx.addIssue({ code: 'custom', path: ['method'], message: `debootstrap installs Debian or Ubuntu, not ${p.os.name}` });
    if ((p.method === 'dnf' || p.method === 'kickstart') && family !== 'rhel') ctx.addIssue({ code: 'custom', path: ['method'], message: `${p.method} installs RHEL-family systems, not ${p.os.name}` });
    const users = new Set<string>();
    p.users.forEach((u, i) => {
      if (users.has(u.name)) ctx.addIssue({ code: 'custom', path: ['users', i, 'name'], message: `user "${u.name}" appears twice` });
      users.add(u.name);
    });
  });

export type Profile = z.infer<typeof profileSchema>;
export type ProfileInput = z.input<typeof profileSchema>;

/**
 * The original LPMOS "hybrid" rule (DESIGN §2): `auto` picks kickstart for RHEL-family profiles with a
 * standard layout, the agent's direct installer for Debian/Ubuntu and for any custom layout.
 */
export function resolveMethod(p: Profile): 'debootstrap' | 'dnf' | 'kickstart' | 'image' {
  if (p.method !== 'auto') return p.method;
  if (OS_FAMILIES[p.os.name] === 'debian') return 'debootstrap';
  const standard = p.storage.raid.length === 0 && p.storage.disks.length === 1;
  return standard ? 'kickstart' : 'dnf';
}
