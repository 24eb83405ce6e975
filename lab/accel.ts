// Which QEMU accelerator the lab can use. KVM is usable only when /dev/kvm exists and can be opened,
// the CPU has hardware virtualization (vmx or svm in /proc/cpuinfo) and /dev/kvm is not provided by
// the paravirtual kvm_pvm module: under kvm_pvm, firmware (SeaBIOS + iPXE, OVMF) stops with
// "KVM internal error … emulation failure" (LAB-NOTES). Otherwise TCG.
// The decision is pure (chooseAccel); probeAccel() is the I/O edge.
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';

export type Accel = 'kvm' | 'tcg';

export interface AccelProbe {
  /** /dev/kvm exists and is a character device. */
  kvmDevice: boolean;
  /** The caller may open /dev/kvm read-write (it is root-only here). */
  kvmAccess: boolean;
  /** The `flags` line of /proc/cpuinfo (first CPU), or '' when unreadable. */
  cpuFlags: string;
  /** /sys/module/kvm_pvm exists: /dev/kvm is paravirtual and cannot run firmware. */
  pvmModule: boolean;
}

export interface AccelChoice {
  accel: Accel;
  /** Why: printed by the bench and the tests so a reader knows which numbers they see. */
  reason: string;
}

/** The CPU flags that mean hardware virtualization: Intel VT-x (vmx), AMD-V (svm). */
export function hasHardwareVirt(cpuFlags: string): boolean {
  const flags = new Set(cpuFlags.split(/\s+/));
  return flags.has('vmx') || flags.has('svm');
}

export function chooseAccel(p: AccelProbe): AccelChoice {
  if (!p.kvmDevice) return { accel: 'tcg', reason: 'no /dev/kvm' };
  if (!p.kvmAccess) return { accel: 'tcg', reason: '/dev/kvm is not accessible to this user' };
  if (p.pvmModule) return { accel: 'tcg', reason: '/dev/kvm is provided by kvm_pvm (paravirtual; firmware does not run)' };
  if (!hasHardwareVirt(p.cpuFlags)) return { accel: 'tcg', reason: 'the CPU has no vmx/svm flag' };
  return { accel: 'kvm', reason: '/dev/kvm with hardware virtualization' };
}

/** The flags of the first processor in a /proc/cpuinfo text. */
export function cpuFlagsOf(cpuinfo: string): string {
  const m = /^flags\s*:\s*(.*)$/m.exec(cpuinfo);
  return m?.[1]?.trim() ?? '';
}

export interface ProbePaths {
  kvm: string;
  cpuinfo: string;
  pvmModule: string;
}

const DEFAULT_PATHS: ProbePaths = { kvm: '/dev/kvm', cpuinfo: '/proc/cpuinfo', pvmModule: '/sys/module/kvm_pvm' };

export async function probeAccel(paths: ProbePaths = DEFAULT_PATHS): Promise<AccelProbe> {
  const st = await stat(paths.kvm).catch(() => undefined);
  const kvmDevice = st?.isCharacterDevice() ?? false;
  const kvmAccess = kvmDevice && (await access(paths.kvm, constants.R_OK | constants.W_OK).then(() => true, () => false));
  const cpuFlags = cpuFlagsOf(await readFile(paths.cpuinfo, 'utf8').catch(() => ''));
  const pvmModule = (await stat(paths.pvmModule).catch(() => undefined)) !== undefined;
  return { kvmDevice, kvmAccess, cpuFlags, pvmModule };
}

export async function detectAccel(paths?: ProbePaths): Promise<AccelChoice> {
  return chooseAccel(await probeAccel(paths));
}
