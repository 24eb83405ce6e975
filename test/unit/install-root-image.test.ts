// Seed-built roots (installers/debian/root-image.ts) and the plan that uses them (debian/steps.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LpmosError } from '../../core/errors.ts';
import { normalizeRootImageSpec, ROOT_FINISH_SCRIPT, rootBuildArgv, rootfsQuery, rootfsSpecFromQuery, rootImageKey, rootPackArgv, rootUnpackArgv, type RootImageSpec } from '../../installers/debian/root-image.ts';
import { rootImageSpecFor } from '../../installers/debian/steps.ts';
import { buildSteps } from '../../installers/plan/steps.ts';
import type { Action, Facts, Step } from '../../installers/plan/types.ts';
import { GiB, biosStorage, disk, layoutOf, profile, raidStorage, spec } from './install-fixture.ts';

const facts: Facts = { uuids: Object.fromEntries(['/dev/vda1', '/dev/vda2', '/dev/vda3', '/dev/vda4'].map((d, i) => [d, `0000000${i}-0000-4000-8000-000000000000`])), efivars: false };
const base: RootImageSpec = { os: 'debian', suite: 'bookworm', arch: 'amd64', variant: 'minbase', components: ['main'], include: ['linux-image-amd64', 'grub2-common', 'udev'] };
const actions = (steps: Step[], id: string): Action[] => steps.find((s) => s.id === id)?.actions(facts) ?? [];
const argvs = (steps: Step[], id: string): string[][] => actions(steps, id).flatMap((a) => (a.kind === 'run' ? [a.argv] : []));

describe('root image spec and key', () => {
  it('equal package sets give equal keys, whatever their order or repeats; another set another key', () => {
    const k = rootImageKey(base);
    assert.match(k, /^[0-9a-f]{64}$/);
    assert.equal(rootImageKey({ ...base, include: ['udev', 'grub2-common', 'linux-image-amd64', 'udev'] }), k);
    assert.notEqual(rootImageKey({ ...base, include: [...base.include, 'mdadm'] }), k);
    assert.notEqual(rootImageKey({ ...base, suite: 'trixie' }), k);
  });
  it('refuses a bad spec with E_VALIDATION naming the field', () => {
    assert.throws(() => normalizeRootImageSpec({ ...base, include: ['ok', 'rm -rf /'] }), (e: unknown) => e instanceof LpmosError && e.code === 'E_VALIDATION' && /include\.1: not a package name/.test(e.message));
    assert.throws(() => normalizeRootImageSpec({ ...base, suite: '../x' }), /suite: not a suite name/);
    assert.throws(() => normalizeRootImageSpec({ ...base, include: [] }), /include/);
    assert.throws(() => rootfsSpecFromQuery(new URLSearchParams('os=windows&suite=bookworm&include=a')), /os:/);
  });
  it('travels as a query and comes back the same (the agent asks, the seed reads)', () => {
    const n = normalizeRootImageSpec(base);
    assert.deepEqual(rootfsSpecFromQuery(new URLSearchParams(rootfsQuery(n))), n);
  });
  it('the build: debootstrap with the seed\'s mirror and the include list; archive keeps owners, xattrs, ACLs', () => {
    assert.deepEqual(rootBuildArgv(base, '/w', 'http://127.0.0.1:8080/mirror/debian'), ['debootstrap', '--variant=minbase', '--arch=amd64', '--include=grub2-common,linux-image-amd64,udev', '--components=main', 'bookworm', '/w', 'http://127.0.0.1:8080/mirror/debian']);
    assert.deepEqual(rootPackArgv('/w').slice(0, 5), ['tar', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls']);
    assert.deepEqual(rootUnpackArgv('/target').slice(-4), ['-C', '/target', '-xpf', '-']);
    // Nothing per machine stays in the image; the initramfs guesses no resume device from the seed's swap.
    for (const s of ['RESUME=none', 'update-initramfs -u -k all', '/etc/machine-id', 'ssh_host_', 'etc/hostname', 'archives/*.deb', 'umount']) assert.ok(ROOT_FINISH_SCRIPT.includes(s), s);
  });
});

describe('plan with a seed-built root', () => {
  const p = profile(biosStorage, { packages: ['htop'] });
  const l = layoutOf(p, [disk('vda', 8 * GiB)]);

  it('the os step empties the root and unpacks the image; no debootstrap on the machine', () => {
    const steps = buildSteps(p, l, spec({ rootImages: true }));
    const os = actions(steps, 'os');
    assert.deepEqual(os.map((a) => a.kind), ['clean', 'rootfs', 'write']);
    const r = os[1];
    assert.ok(r?.kind === 'rootfs');
    assert.ok(r.spec.include.includes('htop'), 'the profile\'s packages are in the image');
    assert.ok(r.spec.include.includes('linux-image-amd64'));
  });
  it('configure: own machine-id and SSH host keys, no apt-get for the profile\'s packages, no initramfs rebuild', () => {
    const steps = buildSteps(p, l, spec({ rootImages: true }));
    const run = argvs(steps, 'configure').map((a) => a.join(' '));
    assert.ok(run.some((c) => c.includes('systemd-machine-id-setup')));
    assert.ok(run.some((c) => c.includes('ssh-keygen -A')));
    assert.ok(!run.some((c) => c.startsWith('apt-get')), run.join('\n'));
    const initramfs = argvs(steps, 'configure').find((a) => a[3] === 'lpmos-initramfs');
    assert.equal(initramfs?.[4], 'no');
  });
  it('rootBuild: machine, or an agent without the seed\'s images: debootstrap on the machine as before', () => {
    for (const steps of [buildSteps(profile(biosStorage, { rootBuild: 'machine' }), l, spec({ rootImages: true })), buildSteps(p, l, spec())]) {
      assert.deepEqual(actions(steps, 'os').map((a) => a.kind), ['clean', 'debootstrap', 'write']);
    }
  });
  it('every machine of a profile asks for the same image: BIOS and UEFI machines alike', () => {
    const r = profile(raidStorage);
    const rl = layoutOf(r, [disk('vda', 8 * GiB), disk('vdb', 8 * GiB)]);
    const uefi = rootImageSpecFor(r, rl, spec({ firmware: 'uefi' }));
    const bios = rootImageSpecFor(r, rl, spec({ firmware: 'bios' }));
    assert.equal(rootImageKey(uefi), rootImageKey(bios));
    for (const pkg of ['mdadm', 'lvm2', 'grub-pc-bin', 'grub-efi-amd64-bin', 'shim-signed', 'grub-efi-amd64-signed', 'efibootmgr']) assert.ok(uefi.include.includes(pkg), pkg);
  });
});
