// Which files `lpmos boot assets` takes from which Debian package, and the manifest it writes.
// Pure: no I/O. The apt/dpkg edge is in apt.ts, the orchestration in gather.ts.
import { ErrorCode, LpmosError } from '../../core/errors.ts';

/** One file (or a glob in the last path segment, `*` only) inside a package, and where it goes in the output. */
export interface AssetRule {
  /** Path inside the package without the leading `/`, e.g. `usr/lib/ipxe/undionly.kpxe`. */
  from: string;
  /** Output name (relative to the output dir); `.` or a name ending in `/`: a directory for every file a glob matches. */
  to: string;
  /** When true a missing file is not an error (e.g. a module that a newer package dropped). */
  optional?: boolean;
}

export interface AssetPackage {
  /** Debian package name. */
  name: string;
  /** A meta package (linux-image-amd64) that names the real one in its Depends: take the first dependency with this prefix. */
  viaDependsPrefix?: string;
  files: AssetRule[];
  /** Extract only these members (tar wildcards, `./boot/*`): the kernel package is 400 MB of modules we do not need here. */
  members?: string[];
}

/**
 * Flat output layout: a TFTP root wants `pxelinux.0` beside `ldlinux.c32`, and shim loads `grubx64.efi`
 * from the directory it was loaded from, so everything sits at the top level.
 */
export const BOOT_ASSET_PACKAGES: readonly AssetPackage[] = [
  {
    name: 'ipxe',
    files: [
      { from: 'usr/lib/ipxe/undionly.kpxe', to: 'undionly.kpxe' },
      // An absolute symlink to /boot/ipxe.efi in the package: resolved inside the extracted tree.
      { from: 'usr/lib/ipxe/ipxe.efi', to: 'ipxe.efi' },
      { from: 'usr/lib/ipxe/snponly.efi', to: 'snponly.efi' },
    ],
  },
  { name: 'pxelinux', files: [{ from: 'usr/lib/PXELINUX/pxelinux.0', to: 'pxelinux.0' }, { from: 'usr/lib/PXELINUX/lpxelinux.0', to: 'lpxelinux.0' }] },
  { name: 'syslinux-common', files: [{ from: 'usr/lib/syslinux/modules/bios/*.c32', to: '.' }] },
  // Secure Boot chain: firmware → shimx64.efi (signed by Microsoft) → grubx64.efi (signed by Debian).
  { name: 'shim-signed', files: [{ from: 'usr/lib/shim/shimx64.efi.signed', to: 'shimx64.efi' }] },
  { name: 'shim-helpers-amd64-signed', files: [{ from: 'usr/lib/shim/mmx64.efi.signed', to: 'mmx64.efi' }, { from: 'usr/lib/shim/fbx64.efi.signed', to: 'fbx64.efi', optional: true }] },
  // The network GRUB image, named as shim expects it.
  { name: 'grub-efi-amd64-signed', files: [{ from: 'usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed', to: 'grubx64.efi' }] },
  { name: 'linux-image-amd64', viaDependsPrefix: 'linux-image-', members: ['./boot/vmlinuz-*'], files: [{ from: 'boot/vmlinuz-*', to: 'vmlinuz' }] },
];

export interface ManifestEntry {
  file: string;
  sha256: string;
  size: number;
  package: string;
  version: string;
}

export interface KernelInfo {
  /** The versioned package, e.g. linux-image-6.1.0-56-amd64. */
  package: string;
  version: string;
  /** `uname -r` of that kernel: the directory name under /lib/modules. */
  release: string;
}

export interface AssetManifest {
  kind: 'lpmos-boot-assets';
  kernel?: KernelInfo;
  files: ManifestEntry[];
}

export function buildManifest(entries: readonly ManifestEntry[], kernel?: KernelInfo): AssetManifest {
  const seen = new Map<string, ManifestEntry>();
  for (const e of entries) {
    const prev = seen.get(e.file);
    if (prev && prev.package !== e.package) {
      throw new LpmosError(ErrorCode.Conflict, `boot asset ${e.file} comes from two packages: ${prev.package} and ${e.package}`);
    }
    seen.set(e.file, e);
  }
  const files = [...seen.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return kernel ? { kind: 'lpmos-boot-assets', kernel, files } : { kind: 'lpmos-boot-assets', files };
}

/** Every stanza of a control text (`apt-cache show a b c`). */
export function parseControlStanzas(text: string): Map<string, string>[] {
  return text.split(/\n\s*\n/).map(parseControl).filter((f) => f.size > 0);
}

/** Fields of one Debian control stanza (`apt-cache show`, `dpkg-deb -f`), continuation lines joined. */
export function parseControl(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (fields.size > 0) break; // first stanza only
      continue;
    }
    if ((line.startsWith(' ') || line.startsWith('\t')) && last) {
      fields.set(last, `${fields.get(last) ?? ''}\n${line.trim()}`);
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) continue;
    last = line.slice(0, i);
    fields.set(last, line.slice(i + 1).trim());
  }
  return fields;
}

/** The first dependency (of any alternative) whose name starts with `prefix`: `linux-image-6.1.0-56-amd64 (= 6.1.192-2)` → the name. */
export function dependencyWithPrefix(depends: string, prefix: string): string | undefined {
  return exactDependency(depends, prefix)?.name;
}

/** Name and, when pinned with `(= V)`, the exact version of the first dependency whose name starts with `prefix`. */
export function exactDependency(depends: string, prefix: string): { name: string; version?: string } | undefined {
  for (const clause of depends.split(',')) {
    for (const alt of clause.split('|')) {
      const name = alt.trim().split(/[\s(:]/)[0] ?? '';
      if (!name.startsWith(prefix)) continue;
      const pinned = /\(\s*=\s*([^)\s]+)\s*\)/.exec(alt);
      return pinned?.[1] ? { name, version: pinned[1] } : { name };
    }
  }
  return undefined;
}

/** The file name `apt-get download` gives a package: an epoch's `:` is written `%3a`. */
export function debFileName(name: string, version: string, arch: string): string {
  return `${name}_${version.replaceAll(':', '%3a')}_${arch}.deb`;
}

/** A kernel package's release from its vmlinuz path: `boot/vmlinuz-6.1.0-56-amd64` → `6.1.0-56-amd64`. */
export function kernelReleaseFromPath(path: string): string | undefined {
  const m = /(?:^|\/)vmlinuz-(.+)$/.exec(path);
  return m?.[1];
}

/**
 * Where a symlink found at `linkPath` (tree-relative) points to, inside the same tree: an absolute target
 * is taken relative to the tree's root (the package's `/boot/ipxe.efi` is `<tree>/boot/ipxe.efi`, never the host's).
 */
export function resolveLinkInTree(linkPath: string, target: string): string {
  const base = target.startsWith('/') ? [] : linkPath.split('/').slice(0, -1);
  const parts = [...base];
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return parts.join('/');
}

export interface PlannedCopy {
  /** Tree-relative source path. */
  src: string;
  /** Output-relative destination. */
  dest: string;
}

function globToRegExp(glob: string): RegExp {
  const esc = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '[^/]*');
  return new RegExp(`^${esc}$`);
}

/**
 * Matches a package's rules against the paths found in its extracted tree (files and symlinks, tree-relative).
 * Throws E_NOT_FOUND naming every required file that is missing.
 */
export function planCopies(pkg: AssetPackage, treePaths: readonly string[]): PlannedCopy[] {
  const out: PlannedCopy[] = [];
  const missing: string[] = [];
  const sorted = [...treePaths].sort();
  for (const rule of pkg.files) {
    if (!rule.from.includes('*')) {
      if (sorted.includes(rule.from)) out.push({ src: rule.from, dest: rule.to });
      else if (!rule.optional) missing.push(rule.from);
      continue;
    }
    const hits = sorted.filter((p) => globToRegExp(rule.from).test(p));
    if (hits.length === 0 && !rule.optional) missing.push(rule.from);
    if (rule.to === '.' || rule.to.endsWith('/')) {
      const dir = rule.to === '.' ? '' : rule.to;
      for (const h of hits) out.push({ src: h, dest: `${dir}${h.split('/').at(-1) ?? h}` });
      continue;
    }
    // A glob onto one file name (`boot/vmlinuz-*` → `vmlinuz`) must match exactly one file.
    if (hits.length > 1) {
      throw new LpmosError(ErrorCode.Conflict, `${pkg.name}: ${rule.from} matches ${hits.length} files, expected one`, {
        details: hits.map((h) => ({ path: h, message: 'matches' })),
      });
    }
    if (hits[0] !== undefined) out.push({ src: hits[0], dest: rule.to });
  }
  if (missing.length > 0) {
    throw new LpmosError(ErrorCode.NotFound, `package ${pkg.name} does not contain the expected boot files`, {
      details: missing.map((m) => ({ path: m, message: 'not in the package' })),
    });
  }
  return out;
}
