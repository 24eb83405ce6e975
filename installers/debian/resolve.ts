// Pure: the package set debootstrap would install, worked out the way debootstrap itself does
// (functions: resolve_deps, pkgdetails GETDEPS/PKGS; scripts/debian-common: work_out_debs), but in
// one pass over the Packages index instead of debootstrap's shell loop that greps the 50 MB index
// and starts perl twice per round. On the host that loop takes ≈ 14 s of CPU; in an emulated (TCG)
// machine it took 25–45 minutes. The agent resolves here and hands debootstrap the result
// (debootstrap.ts), so debootstrap only downloads, unpacks and configures.
//
// debootstrap's rules, kept exactly so that the set is the one debootstrap would choose:
// - required = every package with `Priority: required` (+ usr-is-merged on bookworm); base = `apt`
//   (variant minbase) + --include;
// - a package's dependencies are its Depends and Pre-Depends, each taking the FIRST alternative,
//   without version and architecture qualifiers; dependencies in EXCLUDE_DEPENDENCY (usrmerge from
//   bookworm on) are dropped, and so are names that are no real package (virtual ones);
// - the closure of required, then the closure of base minus what required already brings.

import { ErrorCode, LpmosError } from '../../core/errors.ts';

export interface PackageEntry {
  priority?: string;
  /** Path in the archive (`pool/main/…deb`); of the last stanza, as debootstrap picks it. */
  filename?: string;
  /** First alternatives of Depends and Pre-Depends, qualifiers stripped (debootstrap's GETDEPS). */
  depends: string[];
}

/** Package name → what resolution needs; a package listed twice (two versions) merges its depends. */
export type PackageIndex = Map<string, PackageEntry>;

/** One dependency field → first alternatives: `a (>= 1) | b, c:any` → [a, c]. */
export function firstAlternatives(field: string): string[] {
  const out: string[] = [];
  for (const part of field.split(',')) {
    const name = part.replace(/\|.*$/s, '').replace(/\(.*\)/s, '').replace(/:.*$/s, '').trim();
    if (name) out.push(name);
  }
  return out;
}

/**
 * Reads a Packages index (uncompressed text, in chunks of any size: Debian main is 50 MB) into an
 * index of what resolution needs: Package, Priority, Depends, Pre-Depends. Fields are one line each
 * in Packages files (debootstrap's grep relies on that too); continuation lines are skipped.
 */
export class PackagesIndexParser {
  readonly index: PackageIndex;
  #entry: PackageEntry | undefined;
  #rest = '';

  constructor(into: PackageIndex = new Map()) {
    this.index = into;
  }

  push(chunk: string): void {
    const text = this.#rest + chunk;
    const last = text.lastIndexOf('\n');
    if (last < 0) {
      this.#rest = text;
      return;
    }
    this.#lines(text, last + 1);
    this.#rest = text.slice(last + 1);
  }

  end(): PackageIndex {
    if (this.#rest) this.#lines(`${this.#rest}\n`, this.#rest.length + 1);
    this.#rest = '';
    this.#entry = undefined;
    return this.index;
  }

  /** The complete lines of text[0, upto). */
  #lines(text: string, upto: number): void {
    let start = 0;
    while (start < upto) {
      const nl = text.indexOf('\n', start);
      const c = text.charCodeAt(start);
      // The fields that matter start with P, D or F; other lines are passed over without slicing.
      if (c === 0x50 /* P */) {
        if (text.startsWith('Package:', start)) {
          const name = text.slice(start + 8, nl).trim();
          this.#entry = this.index.get(name);
          if (!this.#entry) {
            this.#entry = { depends: [] };
            this.index.set(name, this.#entry);
          }
        } else if (this.#entry && text.startsWith('Priority:', start)) {
          this.#entry.priority = text.slice(start + 9, nl).trim();
        } else if (this.#entry && text.startsWith('Pre-Depends:', start)) {
          this.#entry.depends.push(...firstAlternatives(text.slice(start + 12, nl)));
        }
      } else if (c === 0x44 /* D */ && this.#entry && text.startsWith('Depends:', start)) {
        this.#entry.depends.push(...firstAlternatives(text.slice(start + 8, nl)));
      } else if (c === 0x46 /* F */ && this.#entry && text.startsWith('Filename:', start)) {
        this.#entry.filename = text.slice(start + 9, nl).trim();
      } else if (nl === start || (nl === start + 1 && c === 0x0d)) {
        this.#entry = undefined; // a blank line ends the stanza
      }
      start = nl + 1;
    }
  }
}

/** A whole Packages index at once. */
export function parsePackagesIndex(text: string, into: PackageIndex = new Map()): PackageIndex {
  const p = new PackagesIndexParser(into);
  p.push(text);
  return p.end();
}

/** debootstrap's resolve_deps: `roots` and every real package they reach through first alternatives. */
export function closure(index: PackageIndex, roots: Iterable<string>, excludeDependency: ReadonlySet<string> = new Set()): Set<string> {
  const all = new Set(roots);
  const queue = [...all];
  while (queue.length) {
    const name = queue.pop() as string;
    for (const dep of index.get(name)?.depends ?? []) {
      if (all.has(dep) || excludeDependency.has(dep) || !index.has(dep)) continue;
      all.add(dep);
      queue.push(dep);
    }
  }
  return all;
}

const PRE_BOOKWORM = new Set(['etch', 'lenny', 'squeeze', 'wheezy', 'jessie', 'stretch', 'buster', 'bullseye']);

export interface DebootstrapSelection {
  /** The required packages and all they need: debootstrap unpacks these by hand first. */
  required: string[];
  /** The base packages (apt + include) and all they need, minus `required`: installed with dpkg. */
  base: string[];
  /** The archive paths of all of them (for fetching ahead of debootstrap). */
  files: string[];
}

/**
 * The sets `debootstrap --variant=minbase --include=<include> <suite>` installs (Debian suites).
 * Throws naming the packages when an --include name is no package of the index (debootstrap fails too).
 */
export function selectDebootstrap(index: PackageIndex, suite: string, include: string[]): DebootstrapSelection {
  const missing = include.filter((p) => !index.has(p));
  if (missing.length) throw new LpmosError(ErrorCode.NotFound, `not in the Packages index of ${suite}: ${missing.join(', ')}`);
  const requiredRoots = [...index].filter(([, e]) => e.priority === 'required').map(([name]) => name);
  if (suite === 'bookworm') requiredRoots.push('usr-is-merged');
  const exclude = new Set(PRE_BOOKWORM.has(suite) ? [] : ['usrmerge']);
  const required = closure(index, requiredRoots, exclude);
  const base = [...closure(index, ['apt', ...include], exclude)].filter((p) => !required.has(p));
  const files = [...required, ...base].flatMap((p) => index.get(p)?.filename ?? []);
  return { required: [...required].sort(), base: base.sort(), files: files.sort() };
}
