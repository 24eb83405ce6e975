// The set every agent fetches: one ramdisk-like blob of random bytes plus the package files of a
// Debian minbase + kernel install — the real .deb files in ~/.cache/lpmos/apt-cache (an earlier install
// left them there, or debs.ts downloaded them: ~150 files, ~120 MiB for bookworm with linux-image, grub, …).
// A smaller set keeps every n-th package by name so the mix of sizes stays the same.
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MiB = 1024 * 1024;

export interface SetSpec {
  /** Directory holding the .deb files. */
  debDir: string;
  blobMiB: number;
  /** Total size wanted (blob + packages); undefined = every package. */
  setMiB?: number;
}

export interface BuiltSet {
  dir: string;
  files: { name: string; size: number }[];
  bytes: number;
  packages: number;
  packageBytes: number;
}

/** Debs to take so their sum is close to `target` bytes (every one when target ≥ all). Pure. */
export function pickPackages(debs: { name: string; size: number }[], target: number | undefined): { name: string; size: number }[] {
  const sorted = [...debs].sort((a, b) => a.name.localeCompare(b.name));
  const total = sorted.reduce((s, d) => s + d.size, 0);
  if (target === undefined || target >= total) return sorted;
  const fraction = Math.max(0, target) / total;
  const kept: { name: string; size: number }[] = [];
  let seen = 0;
  let keptBytes = 0;
  for (const d of sorted) {
    seen += d.size;
    // Keep a package while the kept share lags the wanted share of what was seen so far.
    if (keptBytes + d.size / 2 <= fraction * seen) {
      kept.push(d);
      keptBytes += d.size;
    }
  }
  return kept;
}

/** The .deb files in `dir` with their sizes (none when it does not exist). */
export function debsIn(dir: string): { name: string; size: number }[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith('.deb'))
      .map((name) => ({ name, size: statSync(join(dir, name)).size }));
  } catch {
    return [];
  }
}

/** Writes the blob and links the chosen packages into `dir`. */
export function buildSet(spec: SetSpec, dir: string): BuiltSet {
  const debs = debsIn(spec.debDir);
  if (debs.length === 0) throw new Error(`no .deb files in ${spec.debDir}: set BENCH_DEBS to a directory of .deb files (without it, the bench downloads the demo install's packages into ~/.cache/lpmos/apt-cache)`);
  const blobBytes = Math.round(spec.blobMiB * MiB);
  const packages = pickPackages(debs, spec.setMiB === undefined ? undefined : spec.setMiB * MiB - blobBytes);
  const files: { name: string; size: number }[] = [];
  if (blobBytes > 0) {
    const buf = Buffer.allocUnsafe(blobBytes);
    for (let off = 0; off < blobBytes; off += MiB) randomBytes(Math.min(MiB, blobBytes - off)).copy(buf, off);
    writeFileSync(join(dir, 'ramdisk.img'), buf);
    files.push({ name: 'ramdisk.img', size: blobBytes });
  }
  for (const d of packages) {
    symlinkSync(join(spec.debDir, d.name), join(dir, d.name));
    files.push(d);
  }
  const packageBytes = packages.reduce((s, d) => s + d.size, 0);
  return { dir, files, bytes: blobBytes + packageBytes, packages: packages.length, packageBytes };
}
