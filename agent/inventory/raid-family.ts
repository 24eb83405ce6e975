// Which PCI functions are RAID controllers, and which management family each belongs to, so the
// RAID backends (raid/) know which tool to drive: storcli/perccli (megaraid, perc), ssacli (hpsa,
// smartpqi), arcconf (aacraid), or mdadm for firmware RAID whose metadata mdadm assembles (Intel
// RST/VROC, IMSM metadata: "mdadm-only").
import type { RaidController, RaidFamily } from '../../core/model/inventory.ts';
import type { PciDevice } from './parse-lspci.ts';

// PCI vendor ids (pci.ids)
const LSI = '1000';
const DELL = '1028';
const HP = '103c';
const HPE = '1590';
const ADAPTEC = '9005';
const INTEL = '8086';
/** Microsemi/Adaptec Smart Storage PQI: HPE Smart Array P408i and later (Gen10), smartpqi driver. */
const SMARTPQI = '028f';

const isStorage = (d: PciDevice): boolean =>
  d.classId !== null ? d.classId.startsWith('01') : /storage|RAID|SCSI|SATA|SAS|IDE/i.test(d.className ?? '');
const isRaidClass = (d: PciDevice): boolean => d.classId === '0104' || (d.classId === null && /RAID bus controller/i.test(d.className ?? ''));
const names = (d: PciDevice): string => `${d.deviceName ?? ''} ${d.subsystemDeviceName ?? ''}`;

export function isRaidController(d: PciDevice): boolean {
  if (isRaidClass(d)) return true;
  if (!isStorage(d)) return false;
  if (d.vendorId === ADAPTEC && d.deviceId === SMARTPQI) return true;
  // Some boards keep the SAS/SCSI class on RAID firmware (Dell SAS 6/iR, older PERCs).
  return /\bRAID\b|MegaRAID|Smart Array|\bPERC\b/i.test(names(d));
}

export function raidFamily(d: PciDevice): RaidFamily {
  const vendor = d.vendorId ?? '';
  const n = names(d);
  const vendorName = d.vendorName ?? '';
  const lsi = vendor === LSI || /LSI|Broadcom/i.test(vendorName);
  const dell = vendor === DELL || d.subsystemVendorId === DELL || /^Dell/i.test(d.subsystemVendorName ?? '');
  if ((lsi || vendor === DELL) && (/MegaRAID|\bPERC\b/i.test(n) || isRaidClass(d))) {
    // PERC cards are MegaRAID silicon under Dell's subsystem id; perccli manages them.
    return dell || /\bPERC\b/i.test(n) ? 'perc' : 'megaraid';
  }
  if (vendor === HP || vendor === HPE || /Hewlett-Packard|Hewlett Packard/i.test(vendorName) || /Smart Array/i.test(n)) {
    return vendor === ADAPTEC && d.deviceId === SMARTPQI ? 'smartpqi' : 'hpsa';
  }
  if (vendor === ADAPTEC || /Adaptec|Microsemi|Microchip/i.test(vendorName)) {
    return d.deviceId === SMARTPQI ? 'smartpqi' : 'aacraid';
  }
  if ((vendor === INTEL || /^Intel/i.test(vendorName)) && isRaidClass(d)) return 'mdadm-only';
  return 'unknown';
}

/** Name to show: the board maker's subsystem name when it says more than "Device". */
function displayName(d: PciDevice): string | null {
  const sub = d.subsystemDeviceName;
  const informative = sub !== null && !/^(Device|Unknown device)\b/i.test(sub) && sub !== d.deviceName;
  if (informative && d.deviceName) return `${sub} (${d.deviceName})`;
  return d.deviceName ?? (informative ? sub : null);
}

export function raidControllers(devices: readonly PciDevice[]): RaidController[] {
  return devices.filter(isRaidController).map((d) => ({
    pciAddress: d.slot,
    vendorId: d.vendorId,
    deviceId: d.deviceId,
    subsystemVendorId: d.subsystemVendorId,
    subsystemDeviceId: d.subsystemDeviceId,
    vendor: d.vendorName,
    name: displayName(d),
    family: raidFamily(d),
  }));
}
