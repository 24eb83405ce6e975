// lab/accel.ts: KVM only with a real /dev/kvm, hardware virtualization and no kvm_pvm (LAB-NOTES).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseAccel, cpuFlagsOf, hasHardwareVirt, probeAccel, type AccelProbe } from '../../lab/accel.ts';

const good: AccelProbe = { kvmDevice: true, kvmAccess: true, cpuFlags: 'fpu vme de pse tsc msr vmx sse4_2', pvmModule: false };

test('KVM when /dev/kvm is usable, the CPU has vmx or svm and kvm_pvm is absent', () => {
  assert.equal(chooseAccel(good).accel, 'kvm');
  assert.equal(chooseAccel({ ...good, cpuFlags: 'fpu svm lm' }).accel, 'kvm');
});

test('TCG for each missing condition, with the reason', () => {
  const cases: [Partial<AccelProbe>, RegExp][] = [
    [{ kvmDevice: false, kvmAccess: false }, /no \/dev\/kvm/],
    [{ kvmAccess: false }, /not accessible/],
    [{ pvmModule: true }, /kvm_pvm/],
    [{ cpuFlags: 'fpu vme sse4_2 hypervisor' }, /no vmx\/svm/],
    [{ cpuFlags: '' }, /no vmx\/svm/],
  ];
  for (const [change, reason] of cases) {
    const c = chooseAccel({ ...good, ...change });
    assert.equal(c.accel, 'tcg', JSON.stringify(change));
    assert.match(c.reason, reason);
  }
});

test('flags are whole words: "vmx" inside another flag does not count', () => {
  assert.equal(hasHardwareVirt('fpu vmxe svm_lock'), false);
  assert.equal(hasHardwareVirt('fpu vmx'), true);
});

test('cpuFlagsOf reads the first processor\'s flags line', () => {
  const text = 'processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme svm\nbugs\t\t: spectre\n\nprocessor\t: 1\nflags\t\t: other\n';
  assert.equal(cpuFlagsOf(text), 'fpu vme svm');
  assert.equal(cpuFlagsOf('no flags here'), '');
});

test('probeAccel reads the device, cpuinfo and the module directory from the given paths', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lpmos-accel-'));
  try {
    writeFileSync(join(dir, 'cpuinfo'), 'flags\t: fpu vmx\n');
    // A regular file is not a character device: no KVM.
    writeFileSync(join(dir, 'kvm'), '');
    const p = await probeAccel({ kvm: join(dir, 'kvm'), cpuinfo: join(dir, 'cpuinfo'), pvmModule: join(dir, 'kvm_pvm') });
    assert.deepEqual(p, { kvmDevice: false, kvmAccess: false, cpuFlags: 'fpu vmx', pvmModule: false });
    mkdirSync(join(dir, 'kvm_pvm'));
    // /dev/null is a character device anyone may open: only the module decides here.
    const q = await probeAccel({ kvm: '/dev/null', cpuinfo: join(dir, 'cpuinfo'), pvmModule: join(dir, 'kvm_pvm') });
    assert.equal(q.kvmDevice, true);
    assert.equal(q.pvmModule, true);
    assert.equal(chooseAccel(q).accel, 'tcg');
    assert.equal(chooseAccel({ ...q, pvmModule: false }).accel, 'kvm');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
