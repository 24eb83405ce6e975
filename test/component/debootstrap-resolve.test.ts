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

  const printDebs = (suite: string, args: string[]): string[] => {
    const target = join(work, `target-${suite}-${args.length}`);
    const out = execFileSync('debootstrap', ['--print-debs', '--no-check-gpg', '--variant=minbase', '--arch=amd64', '--components=main', ...args, suite, target, `file://${join(work, 'mirror')}`], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' }, timeout: 120_000 });
    rmSync(target, { recursive: true, force: true });
    return [...new Set(out.trim().split(/\s+/))].sort();
  };

  for (const suite of ['bookworm', 'bullseye']) {
    it(`${suite}: the same set as debootstrap's resolution, and --no-resolve-deps with our --include installs it`, () => {
      const packages = readFileSync(FIXTURE, 'utf8');
      writeMirror(join(work, 'mirror'), suite, packages);
      const sel = selectDebootstrap(parsePackagesIndex(packages), suite, ['tool']);
      const ours = [...new Set([...sel.required, ...sel.base])].sort();
      assert.deepEqual(ours, printDebs(suite, ['--include=tool']), 'debootstrap resolving itself');
      assert.deepEqual(ours, printDebs(suite, ['--no-resolve-deps', `--include=${sel.include.join(',')}`]), 'debootstrap --no-resolve-deps with the resolved set');
    });
  }
});
