// Differential test against the real debootstrap: the package set installers/debian/resolve.ts works
// out must be the one debootstrap's own resolution prints (`debootstrap --print-debs`), and debootstrap
// given that set with --no-resolve-deps must print the same set again. The mirror is a directory
// (file://) with the fixture as its only Packages index; nothing leaves this machine.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { debootstrapArgv, debootstrapEnv, debootstrapScript, type DebootstrapAction, type ResolvedRun } from '../../installers/debian/debootstrap.ts';
import { parsePackagesIndex, selectDebootstrap } from '../../installers/debian/resolve.ts';

const FIXTURE = join(import.meta.dirname, '../fixtures/installers/Packages-resolve.txt');
const skip = !existsSync('/usr/sbin/debootstrap') ? 'debootstrap is not installed (scripts/apt-packages.txt)' : process.getuid?.() !== 0 ? 'debootstrap needs root' : false;

/** A file:// archive with one suite, one component, one architecture. */
function writeMirror(root: string, suite: string, packages: string): void {
  const dir = join(root, 'dists', suite, 'main', 'binary-amd64');
  mkdirSync(dir, { recursive: true });
  const gz = gzipSync(packages);
  writeFileSync(join(dir, 'Packages.gz'), gz);
  writeFileSync(join(dir, 'Packages'), packages);
  const line = (b: Uint8Array | string, name: string): string => ` ${createHash('sha256').update(b).digest('hex')} ${Buffer.byteLength(b)} ${name}`;
  writeFileSync(join(root, 'dists', suite, 'Release'), [
    'Origin: LPMOS test', `Suite: ${suite}`, `Codename: ${suite}`, 'Architectures: amd64', 'Components: main',
    'SHA256:', line(gz, 'main/binary-amd64/Packages.gz'), line(packages, 'main/binary-amd64/Packages'), '',
  ].join('\n'));
}

describe('package resolution agrees with debootstrap', { skip }, () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'lpmos-resolve-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  /** debootstrap's package list (required first, then base), as it would install them. */
  const printDebs = (suite: string, args: string[], resolved?: ResolvedRun): string[] => {
    const target = join(work, `target-${suite}-${args.length}`);
    const a: DebootstrapAction = { kind: 'debootstrap', suite, arch: 'amd64', variant: 'minbase', components: ['main'], include: [], mirror: `file://${join(work, 'mirror')}`, target, resolve: true };
    // Without --debian-installer: its progress protocol wants an fd 3 that execFileSync does not open.
    const argv = debootstrapArgv(a, resolved).filter((x) => x !== '--debian-installer');
    const out = execFileSync(argv[0]!, ['--print-debs', '--no-check-gpg', ...args, ...argv.slice(1)], { encoding: 'utf8', env: { ...process.env, ...debootstrapEnv(resolved) }, timeout: 120_000 });
    rmSync(target, { recursive: true, force: true });
    return out.trim().split(/\s+/);
  };
  const sorted = (a: string[]): string[] => [...new Set(a)].sort();

  for (const suite of ['bookworm', 'bullseye']) {
    it(`${suite}: the same set as debootstrap's resolution, and debootstrap with our lists installs it`, () => {
      const packages = readFileSync(FIXTURE, 'utf8');
      writeMirror(join(work, 'mirror'), suite, packages);
      const selection = selectDebootstrap(parsePackagesIndex(packages), suite, ['tool']);
      const ours = sorted([...selection.required, ...selection.base]);
      // debootstrap prints "$required $base": the required part (unpacked by hand before anything runs
      // in the target) must be the same too, not only the whole.
      const theirs = printDebs(suite, ['--include=tool']);
      assert.deepEqual(ours, sorted(theirs), 'debootstrap resolving itself: the whole set');
      assert.deepEqual(selection.required, sorted(theirs.slice(0, selection.required.length)), 'debootstrap resolving itself: the required part');
      const script = join(work, `script-${suite}`);
      writeFileSync(script, debootstrapScript(suite));
      const given = printDebs(suite, [], { script, selection });
      assert.deepEqual(given, [...selection.required, ...selection.base], 'debootstrap --no-resolve-deps with our suite script takes our lists as they are');
    });
  }
});
