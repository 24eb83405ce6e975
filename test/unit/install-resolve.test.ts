// The package set debootstrap would install, worked out by installers/debian/resolve.ts with
// debootstrap's own rules (first alternatives, no virtual packages, usrmerge excluded from bookworm
// on). The same fixture runs through the real debootstrap in test/component/debootstrap-resolve.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { closure, firstAlternatives, PackagesIndexParser, parsePackagesIndex, selectDebootstrap } from '../../installers/debian/resolve.ts';
import { FIXTURES } from './install-fixture.ts';

const text = readFileSync(join(FIXTURES, 'Packages-resolve.txt'), 'utf8');

describe('Packages index for resolution', () => {
  it('first alternatives without versions and architecture qualifiers', () => {
    assert.deepEqual(firstAlternatives('libc6 (>= 2.34), tar (>= 1.28-1) | footar, zlib1g:any,  python3:any (>= 3.11~) '), ['libc6', 'tar', 'zlib1g', 'python3']);
    assert.deepEqual(firstAlternatives(''), []);
  });

  it('reads Priority, Depends and Pre-Depends; merges two versions; ignores continuation lines', () => {
    const idx = parsePackagesIndex(text);
    assert.equal(idx.size, 30);
    assert.equal(idx.get('dpkg')?.priority, 'required');
    assert.deepEqual(idx.get('dpkg')?.depends, ['libc6', 'tar', 'zlib1g']);
    assert.deepEqual(idx.get('libbar')?.depends, ['libx', 'liby']);
    assert.deepEqual(idx.get('base-files')?.depends, ['mawk'], 'the description line " Depends: …" is not a field');
  });

  it('gives the same index however the text is cut into chunks, CRLF included', () => {
    const whole = parsePackagesIndex(text);
    for (const size of [1, 7, 4096]) {
      const p = new PackagesIndexParser();
      for (let i = 0; i < text.length; i += size) p.push(text.slice(i, i + size));
      assert.deepEqual(p.end(), whole, `chunks of ${size}`);
    }
    assert.deepEqual(parsePackagesIndex(text.replace(/\n/g, '\r\n').replace(/\r\n$/, '')), whole);
  });
});

describe('debootstrap\'s resolution', () => {
  const idx = parsePackagesIndex(text);

  it('closure keeps the roots, follows real packages only, drops excluded dependencies', () => {
    assert.deepEqual([...closure(idx, ['tool', 'no-such-root'], new Set(['usrmerge']))].sort(),
      ['init-system-helpers', 'libbar', 'libc6', 'libfoo', 'libgcc-s1', 'gcc-12-base', 'libx', 'liby', 'no-such-root', 'perl-base', 'tool'].sort());
    assert.ok(closure(idx, ['tool']).has('usrmerge'), 'without the exclusion usrmerge comes in');
  });

  it('bookworm minbase + tool: the required closure, and the base closure minus required', () => {
    const sel = selectDebootstrap(idx, 'bookworm', ['tool']);
    // Roots: Priority required + usr-is-merged; libc6 and zlib1g (optional) come in as their dependencies.
    assert.deepEqual(sel.required, ['base-files', 'dpkg', 'gcc-12-base', 'libc6', 'libgcc-s1', 'mawk', 'passwd', 'perl-base', 'tar', 'usr-is-merged', 'zlib1g']);
    // virt-only is virtual: debootstrap drops it and does NOT take the second alternative (realalt);
    // usrmerge is excluded; footar and gpgv2 are second alternatives; provider-pkg and unrelated are not needed.
    assert.deepEqual(sel.base, ['adduser', 'apt', 'debian-archive-keyring', 'gpgv', 'init-system-helpers', 'libapt-pkg6.0', 'libbar', 'libfoo', 'libx', 'liby', 'libzstd1', 'tool']);
    // Every package's file, the last stanza's for libbar (debootstrap takes the last one too).
    assert.equal(sel.files.length, sel.required.length + sel.base.length);
    assert.ok(sel.files.includes('pool/main/libb/libbar/libbar_2_amd64.deb') && !sel.files.includes('pool/main/libb/libbar/libbar_1_amd64.deb'));
    assert.ok(sel.files.includes('pool/main/t/tool/tool_1.0_amd64.deb'));
  });

  it('bullseye: no usr-is-merged root and usrmerge is followed', () => {
    const sel = selectDebootstrap(idx, 'bullseye', ['tool']);
    assert.ok(!sel.required.includes('usr-is-merged'));
    assert.ok(sel.base.includes('usrmerge') && sel.base.includes('perl'));
  });

  it('an --include that is no package is refused, naming it', () => {
    assert.throws(() => selectDebootstrap(idx, 'bookworm', ['tool', 'nosuch', 'virt-only']), /not in the Packages index of bookworm: nosuch, virt-only/);
  });
});
