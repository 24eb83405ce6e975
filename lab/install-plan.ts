// What an install run in the lab consists of (pure): how many machines, which firmware each boots,
// their QEMU definitions and the small Debian 12 profiles they get. Shared by `lpmos demo` and
// `npm run bench:install` (lab/install-run.ts runs it). Validation of the user's choices lives here so
// the CLI and the bench refuse the same things with the same messages.
import { ErrorCode, LpmosError } from '../core/errors.ts';
import type { Accel } from './accel.ts';
import type { Firmware } from './qemu.ts';
import type { VmDefinition } from './vm.ts';

export type FirmwareChoice = Firmware | 'mixed';
export const FIRMWARE_CHOICES: readonly FirmwareChoice[] = ['bios', 'uefi', 'mixed'];

/** At most this many VMs: each takes 1.5 GiB of RAM and one vCPU. */
export const MAX_VMS = 8;

/** Default count: 3 with KVM, 1 under TCG (software emulation is ~10× slower per VM). */
export function defaultVmCount(accel: Accel): number {
  return accel === 'kvm' ? 3 : 1;
}

/** A whole number 1..MAX_VMS from a command-line or environment string. */
export function parseVmCount(text: string, what = '--vms'): number {
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > MAX_VMS) {
    throw new LpmosError(ErrorCode.Usage, `${what} "${text}": expected a whole number from 1 to ${MAX_VMS}`);
  }
  return n;
}

export function parseFirmware(text: string, what = '--firmware'): FirmwareChoice {
  const f = text.trim().toLowerCase();
  if (!(FIRMWARE_CHOICES as readonly string[]).includes(f)) throw new LpmosError(ErrorCode.Usage, `${what} "${text}": expected one of ${FIRMWARE_CHOICES.join(', ')}`);
  return f as FirmwareChoice;
}

/** Firmware of machine `i` (0-based): `mixed` alternates BIOS, UEFI, BIOS, … */
export function firmwareOf(choice: FirmwareChoice, i: number): Firmware {
  if (choice === 'mixed') return i % 2 === 0 ? 'bios' : 'uefi';
  return choice;
}

export interface LabMachine {
  /** The machine's id in the registry: the agent enrolls as m-<boot MAC without colons>. */
  id: string;
  profile: string;
  def: VmDefinition;
}

const GiB = 2 ** 30;

/** The profile a machine of this firmware gets: only the boot partition that firmware needs. */
export function profileFor(firmware: Firmware): string {
  return `demo-debian12-${firmware}`;
}

/**
 * `count` machines: one 3 GiB disk, 1.5 GiB RAM, one vCPU, MACs 52:54:00:de:00:<n> (distinct from the
 * e2e tests' 52:54:00:e2:…), SMBIOS serial DEMO-<n>.
 */
export function labMachines(count: number, firmware: FirmwareChoice, prefix = 'demo'): LabMachine[] {
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_VMS) throw new LpmosError(ErrorCode.Usage, `machine count ${count}: expected 1 to ${MAX_VMS}`);
  return Array.from({ length: count }, (_, i) => {
    const fw = firmwareOf(firmware, i);
    const n = (i + 1).toString(16).padStart(2, '0');
    const mac = `52:54:00:de:00:${n}`;
    return {
      id: `m-${mac.replaceAll(':', '')}`,
      profile: profileFor(fw),
      def: {
        name: `${prefix}-${i + 1}-${fw}`, firmware: fw, memoryMiB: 1536, cpus: 1, mac,
        disks: [{ sizeBytes: 3 * GiB, format: 'raw' }], smbios: { serial: `DEMO-${n.toUpperCase()}` },
      },
    };
  });
}

/**
 * Debian 12 minbase + kernel + GRUB, nothing else (the installer adds what booting needs): GPT on the
 * one disk, a BIOS boot partition or an EFI system partition, 128 MiB swap, ext4 root on the rest.
 */
export const LAB_PROFILES = `
kind: Profile
name: ${profileFor('bios')}
description: Debian 12 minbase + kernel, BIOS, one disk (GPT, ext4 root, swap)
os: { name: debian, version: "12" }
storage:
  partitionTable: gpt
  disks: [{ id: d0, match: { minSize: 2GiB }, wipe: true }]
  partitions:
    - { id: bios, disk: d0, size: 1MiB, type: bios-boot }
    - { id: swap, disk: d0, size: 128MiB, type: swap }
    - { id: root, disk: d0, size: rest }
  filesystems:
    - { device: swap, type: swap }
    - { device: root, type: ext4, mount: / }
---
kind: Profile
name: ${profileFor('uefi')}
description: Debian 12 minbase + kernel, UEFI, one disk (GPT, ESP, ext4 root, swap)
os: { name: debian, version: "12" }
storage:
  partitionTable: gpt
  disks: [{ id: d0, match: { minSize: 2GiB }, wipe: true }]
  partitions:
    - { id: esp, disk: d0, size: 64MiB, type: esp }
    - { id: swap, disk: d0, size: 128MiB, type: swap }
    - { id: root, disk: d0, size: rest }
  filesystems:
    - { device: esp, type: vfat, mount: /boot/efi }
    - { device: swap, type: swap }
    - { device: root, type: ext4, mount: / }
`;
