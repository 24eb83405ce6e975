// Virtualization when systemd-detect-virt is not there (the agent ramdisk ships udev, not systemd):
// the hypervisor lscpu reports from CPUID leaf 0x40000000, else the SMBIOS system vendor.
// Names follow systemd-detect-virt(1) so both sources read the same.
import { lscpuFields } from './parse-lscpu.ts';

const BY_CPUID: Record<string, string> = {
  kvm: 'kvm', vmware: 'vmware', microsoft: 'microsoft', xen: 'xen', parallels: 'parallels', bhyve: 'bhyve',
  qnx: 'qnx', acrn: 'acrn', 'apple': 'apple', sre: 'sre',
};

/** From lscpu output: `Hypervisor vendor:` mapped to a systemd id; `none` when the CPU flags lack `hypervisor`. */
export function virtFromLscpu(output: string): string | null {
  const f = lscpuFields(output);
  const vendor = f.get('Hypervisor vendor')?.trim().toLowerCase();
  if (vendor) return BY_CPUID[vendor] ?? 'vm-other';
  const flags = f.get('Flags');
  if (flags === undefined) return null; // no flags line (some ARM lscpu): cannot tell
  return /\bhypervisor\b/.test(flags) ? 'vm-other' : 'none';
}

/** From SMBIOS type 1 (`Manufacturer`, `Product Name`), for guests whose CPUID does not tell. */
export function virtFromDmi(vendor: string | null, product: string | null): string | null {
  const v = `${vendor ?? ''} ${product ?? ''}`;
  if (/QEMU/i.test(v)) return 'qemu';
  if (/VMware/i.test(v)) return 'vmware';
  if (/innotek|VirtualBox/i.test(v)) return 'oracle';
  if (/Microsoft Corporation.*Virtual Machine/i.test(v)) return 'microsoft';
  if (/^Xen\b/i.test(v)) return 'xen';
  if (/Amazon EC2/i.test(v)) return 'amazon';
  return null;
}

/** systemd-detect-virt's answer if it ran, else CPUID, refined by SMBIOS when CPUID saw nothing specific. */
export function chooseVirt(detectVirt: string | null, fromLscpu: string | null, fromDmi: string | null): string | null {
  if (detectVirt !== null) return detectVirt;
  if (fromLscpu !== null && fromLscpu !== 'none' && fromLscpu !== 'vm-other') return fromLscpu;
  return fromDmi ?? fromLscpu;
}
