import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LpmosError } from '../../core/errors.ts';
import { normalizeMac, parseSize, parseObjects, validateDocuments, resolveMethod, profileSchema } from '../../core/model/index.ts';

function rejects(fn: () => unknown, code: string, ...fragments: string[]): LpmosError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof LpmosError, `expected LpmosError, got ${String(e)}`);
    assert.equal(e.code, code);
    const text = [e.message, ...e.details.map((d) => `${d.path ?? ''}: ${d.message}`)].join('\n');
    for (const f of fragments) assert.ok(text.includes(f), `error should mention ${JSON.stringify(f)}:\n${text}`);
    return e;
  }
  assert.fail('expected an error');
}

const minimal = {
  kind: 'Profile',
  name: 'p1',
  os: { name: 'debian', version: '12' },
  storage: { disks: [{ id: 'd0' }], partitions: [{ id: 'root', disk: 'd0', size: 'rest' }], filesystems: [{ device: 'root', type: 'ext4', mount: '/' }] },
};

describe('MAC addresses', () => {
  it('normalises the usual spellings to aa:bb:cc:dd:ee:ff', () => {
    for (const s of ['52:54:00:AB:cd:01', '52-54-00-ab-cd-01', '5254.00ab.cd01', '525400abcd01']) assert.equal(normalizeMac(s), '52:54:00:ab:cd:01');
  });
  it('refuses malformed, multicast and all-zero addresses', () => {
    for (const s of ['52:54:00:ab:cd', '52:54:00:ab:cd:0g', 'zz', '01:00:5e:00:00:01', '00:00:00:00:00:00', '52:54:00:ab:cd:01:02', '']) assert.equal(normalizeMac(s), undefined, s);
  });
});

describe('sizes', () => {
  it('parses bytes, SI and IEC units, percent and rest', () => {
    assert.deepEqual(parseSize('512MiB'), { bytes: 512 * 2 ** 20 });
    assert.deepEqual(parseSize('20G'), { bytes: 20e9 });
    assert.deepEqual(parseSize(4096), { bytes: 4096 });
    assert.deepEqual(parseSize('50%'), { percent: 50 });
    assert.deepEqual(parseSize('rest'), { rest: true });
  });
  it('refuses nonsense', () => {
    for (const s of ['0', '-1G', '12 parsecs', '150%', '0%', 'lots', 1.5]) assert.equal(parseSize(s), undefined, String(s));
  });
});

describe('documents', () => {
  it('accepts the shipped examples (mixed profiles and machines)', () => {
    for (const f of ['examples/profile-debian12-minimal.yaml', 'examples/machines.yaml']) {
      const docs = validateDocuments(parseObjects(readFileSync(f, 'utf8'), f), f);
      assert.ok(docs.length >= 2);
    }
  });
  it('reads JSON objects and arrays as well as YAML streams', () => {
    assert.equal(validateDocuments(parseObjects(JSON.stringify(minimal), 'x.json'), 'x.json').length, 1);
    assert.equal(validateDocuments(parseObjects(JSON.stringify([minimal, { ...minimal, name: 'p2' }]), 'x.json'), 'x.json').length, 2);
  });
  it('malformed YAML names the file and document', () => {
    rejects(() => parseObjects('kind: Profile\nname: [unclosed\n', 'bad.yaml'), 'E_PARSE', 'bad.yaml', 'not valid YAML');
    rejects(() => parseObjects('a: 1\na: 2\n', 'dup.yaml'), 'E_PARSE', 'dup.yaml');
  });
  it('malformed JSON names the file', () => {
    rejects(() => parseObjects('{"kind": "Profile",', 'bad.json'), 'E_PARSE', 'bad.json', 'not valid JSON');
  });
  it('schema violations name the document and the field', () => {
    rejects(() => validateDocuments([{ ...minimal, os: { name: 'windows', version: '11' } }], 'f.yaml'), 'E_VALIDATION', 'f.yaml#1 (Profile/p1): os.name');
    rejects(() => validateDocuments([{ ...minimal, name: 'Bad_Name!' }], 'f.yaml'), 'E_VALIDATION', 'name', 'lower-case');
    rejects(() => validateDocuments([{ ...minimal, colour: 'red' }], 'f.yaml'), 'E_VALIDATION', 'colour');
    rejects(() => validateDocuments([{ kind: 'Widget', name: 'x' }], 'f.yaml'), 'E_VALIDATION', 'kind', 'Widget');
    rejects(() => validateDocuments(['just a string'], 'f.yaml'), 'E_VALIDATION', 'f.yaml#1');
    rejects(() => validateDocuments([], 'empty.yaml'), 'E_VALIDATION', 'no documents');
  });
  it('reports every problem of every document at once', () => {
    const e = rejects(
      () => validateDocuments([{ ...minimal, os: { name: 'x', version: '' } }, { kind: 'Machine', name: 'm1', macs: ['nope'] }], 'f.yaml'),
      'E_VALIDATION', 'os.name', 'os.version', 'macs[0]', '"nope" is not a unicast MAC',
    );
    assert.ok(e.details.length >= 3);
  });
  it('a bad MAC and a MAC listed twice are named', () => {
    rejects(() => validateDocuments([{ kind: 'Machine', name: 'm1', macs: ['52:54:00:00:00:01', '52-54-00-00-00-01'] }], 'f'), 'E_VALIDATION', 'macs[1]', 'listed twice');
  });
  it('the same object twice in one apply is refused', () => {
    rejects(() => validateDocuments([minimal, minimal], 'f'), 'E_VALIDATION', 'Profile/p1', 'defined twice');
  });
  it('install needs a profile', () => {
    rejects(() => validateDocuments([{ kind: 'Machine', name: 'm1', macs: ['52:54:00:00:00:01'], spec: { action: 'install' } }], 'f'), 'E_VALIDATION', 'spec.profile');
  });
});

describe('storage layout checks', () => {
  const layout = (storage: object) => profileSchema.safeParse({ ...minimal, storage });
  const messages = (r: ReturnType<typeof layout>) => (r.success ? '' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));

  it('refuses references to ids that do not exist', () => {
    const r = layout({ disks: [{ id: 'd0' }], partitions: [{ id: 'p', disk: 'd9', size: 'rest' }], filesystems: [{ device: 'p', type: 'ext4', mount: '/' }] });
    assert.match(messages(r), /partitions\.0\.disk: "d9" is not a disk id/);
  });
  it('refuses RAID with too few members and members used twice', () => {
    const r = layout({
      disks: [{ id: 'd0' }, { id: 'd1' }, { id: 'd2' }],
      raid: [{ id: 'md0', level: 5, members: ['d0', 'd1'] }, { id: 'md1', level: 1, members: ['d1', 'd2'] }],
      filesystems: [{ device: 'md0', type: 'ext4', mount: '/' }],
    });
    assert.match(messages(r), /RAID 5 needs at least 3 members/);
    assert.match(messages(r), /"d1" is already used by raid "md0"/);
  });
  it('needs a root filesystem, one mount per path and at most one "rest" per disk', () => {
    const r = layout({
      disks: [{ id: 'd0' }],
      partitions: [{ id: 'a', disk: 'd0', size: 'rest' }, { id: 'b', disk: 'd0', size: 'rest' }],
      filesystems: [{ device: 'a', type: 'ext4', mount: '/data' }, { device: 'b', type: 'xfs', mount: '/data' }],
    });
    const m = messages(r);
    assert.match(m, /no filesystem is mounted at "\/"/);
    assert.match(m, /mounted twice/);
    assert.match(m, /more than one "rest" partition/);
  });
  it('an ESP holds vfat; swap has no mount point', () => {
    const r = layout({
      disks: [{ id: 'd0' }],
      partitions: [{ id: 'esp', disk: 'd0', size: '256MiB', type: 'esp' }, { id: 's', disk: 'd0', size: '1G' }, { id: 'r', disk: 'd0', size: 'rest' }],
      filesystems: [{ device: 'esp', type: 'ext4', mount: '/boot/efi' }, { device: 's', type: 'swap', mount: '/swap' }, { device: 'r', type: 'ext4', mount: '/' }],
    });
    assert.match(messages(r), /must hold vfat/);
    assert.match(messages(r), /swap has no mount point/);
  });
  it('accepts RAID 1 with LVM on top', () => {
    const r = layout({
      disks: [{ id: 'd0' }, { id: 'd1' }],
      raid: [{ id: 'md0', level: 1, members: ['d0', 'd1'] }],
      lvm: [{ name: 'vg0', pvs: ['md0'], lvs: [{ name: 'root', size: '80%' }, { name: 'swap', size: 'rest' }] }],
      filesystems: [{ device: 'vg0/root', type: 'ext4', mount: '/' }, { device: 'vg0/swap', type: 'swap' }],
    });
    assert.equal(messages(r), '');
  });
});

describe('method choice (hybrid rule)', () => {
  it('debootstrap for Debian, kickstart for a standard RHEL layout, dnf for a custom one', () => {
    const p = profileSchema.parse(minimal);
    assert.equal(resolveMethod(p), 'debootstrap');
    assert.equal(resolveMethod({ ...p, os: { ...p.os, name: 'rocky', version: '9' } }), 'kickstart');
    const custom = profileSchema.parse({ ...minimal, os: { name: 'rocky', version: '9' }, storage: { disks: [{ id: 'd0' }, { id: 'd1' }], raid: [{ id: 'md0', level: 1, members: ['d0', 'd1'] }], filesystems: [{ device: 'md0', type: 'xfs', mount: '/' }] } });
    assert.equal(resolveMethod(custom), 'dnf');
  });
});
