// QEMU command line for a lab machine (pure: no I/O). Firmware facts from LAB-NOTES:
// - BIOS: SeaBIOS + QEMU's default ROM for virtio-net-pci (efi-virtio.rom, an iPXE build). SeaBIOS and
//   that iPXE print on serial only when fw_cfg `etc/sercon-port` holds the port, 0x3f8 as bytes f8 03.
// - UEFI: OVMF_CODE.fd (read-only) with a per-VM copy of the matching 2 MiB-layout OVMF_VARS.fd (not
//   the _4M pair). The NIC gets `romfile=` (no option ROM) so OVMF's own PXE client does DHCP + TFTP;
//   with the ROM, OVMF would run the ROM's iPXE and never use TFTP.
// The NIC has bootindex 1, the disks 2, 3, …: a blank machine network-boots, as a new server in a rack,
// and one the seed no longer answers (localboot) starts its disk. OVMF keeps only the boot options that
// QEMU's boot order names (a disk without a bootindex, and the NVRAM entry GRUB adds, are dropped: seen
// in test:install, where the installed UEFI machine fell through to the EFI shell).
import type { Accel } from './accel.ts';

export type Firmware = 'bios' | 'uefi';
export type DiskFormat = 'qcow2' | 'raw';

export interface DiskSpec {
  file: string;
  format: DiskFormat;
  /** Virtual size; the file is sparse (raw) or grows on write (qcow2). */
  sizeBytes: number;
  /** Serial number the guest sees (virtio-blk `serial=`, ≤ 20 characters). */
  serial: string;
}

export interface VmSpec {
  name: string;
  firmware: Firmware;
  accel: Accel;
  memoryMiB: number;
  cpus: number;
  /** MAC of the provisioning NIC, `52:54:00:…` (QEMU's locally administered prefix). */
  mac: string;
  /** Existing tap device (created by the lab network, inside the namespace QEMU runs in). */
  tap: string;
  disks: DiskSpec[];
  /** Serial console (ttyS0) goes to this file. */
  serialLog: string;
  /** BIOS: file holding the bytes f8 03 (etc/sercon-port). */
  serconFile?: string;
  /** UEFI: read-only firmware code and this VM's own writable variable store. */
  ovmfCode?: string;
  ovmfVars?: string;
  pidFile?: string;
  /** SMBIOS type 1 (system) serial and UUID: what dmidecode shows as the machine's identity. */
  smbios?: { serial?: string; uuid?: string };
  /** Exit instead of rebooting (the lab sees a crash or a `reboot` as the process ending). */
  noReboot?: boolean;
  /** A second serial port (ttyS1) on this Unix socket, for a shell the ramdisk starts there (lpmos.shell=ttyS1). */
  shellSocket?: string;
}

export const SERCON_BYTES: Uint8Array = Uint8Array.of(0xf8, 0x03);
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS.fd';

function check(vm: VmSpec): void {
  const bad = (msg: string): never => {
    throw new TypeError(`vm ${vm.name}: ${msg}`);
  };
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(vm.name)) bad('name must be 1-64 letters, digits, ".", "_", "-"');
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(vm.mac)) bad(`mac ${vm.mac} must be lower-case aa:bb:cc:dd:ee:ff`);
  if ((Number.parseInt(vm.mac.slice(0, 2), 16) & 1) !== 0) bad(`mac ${vm.mac} is a multicast address`);
  if (!Number.isInteger(vm.memoryMiB) || vm.memoryMiB < 64) bad('memoryMiB must be an integer ≥ 64');
  if (!Number.isInteger(vm.cpus) || vm.cpus < 1 || vm.cpus > 64) bad('cpus must be an integer 1-64');
  if (!/^[A-Za-z0-9._-]{1,15}$/.test(vm.tap)) bad(`tap ${vm.tap} is not a valid interface name`);
  if (vm.firmware === 'bios' && !vm.serconFile) bad('BIOS needs serconFile (etc/sercon-port) for serial output');
  if (vm.firmware === 'uefi' && (!vm.ovmfCode || !vm.ovmfVars)) bad('UEFI needs ovmfCode and ovmfVars');
  for (const d of vm.disks) {
    if (!Number.isSafeInteger(d.sizeBytes) || d.sizeBytes <= 0 || d.sizeBytes % 512 !== 0) bad(`disk ${d.file}: size must be a positive multiple of 512`);
    if (!/^[A-Za-z0-9_-]{1,20}$/.test(d.serial)) bad(`disk ${d.file}: serial must be 1-20 letters, digits, "_", "-"`);
  }
  if (vm.smbios?.serial !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(vm.smbios.serial)) bad('smbios serial must be 1-64 letters, digits, ".", "_", "-"');
  if (vm.smbios?.uuid !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(vm.smbios.uuid)) bad('smbios uuid must be a lower-case UUID');
  // QEMU options are comma-separated: a comma in a path would be read as the next option.
  for (const p of [vm.serialLog, vm.serconFile, vm.ovmfCode, vm.ovmfVars, vm.pidFile, ...vm.disks.map((d) => d.file)]) {
    if (p !== undefined && /[,\s]/.test(p)) bad(`path "${p}" must not contain commas or white space`);
  }
}

/** The arguments after the qemu-system-x86_64 binary. */
export function qemuArgs(vm: VmSpec): string[] {
  check(vm);
  const args = [
    '-name', `${vm.name},process=qemu-${vm.name}`,
    '-machine', 'pc',
    '-accel', vm.accel === 'kvm' ? 'kvm' : 'tcg,thread=multi',
    // TCG's default CPU (qemu64) lacks SSE4.x that current Node/V8 builds use; `max` is everything TCG emulates.
    '-cpu', vm.accel === 'kvm' ? 'host' : 'max',
    '-smp', String(vm.cpus),
    '-m', String(vm.memoryMiB),
    // No default devices (VGA, floppy, CD-ROM, NIC, monitor): only what is listed here, in a stable order.
    '-nodefaults',
    '-display', 'none',
    '-monitor', 'none',
    '-serial', `file:${vm.serialLog}`,
  ];
  if (vm.shellSocket) args.push('-chardev', `socket,id=shell0,path=${vm.shellSocket},server=on,wait=off`, '-serial', 'chardev:shell0');
  if (vm.noReboot) args.push('-no-reboot');
  if (vm.smbios?.uuid) args.push('-uuid', vm.smbios.uuid);
  if (vm.smbios?.serial) args.push('-smbios', `type=1,serial=${vm.smbios.serial}`);
  if (vm.pidFile) args.push('-pidfile', vm.pidFile);
  if (vm.firmware === 'bios') {
    args.push('-fw_cfg', `name=etc/sercon-port,file=${vm.serconFile}`);
  } else {
    args.push(
      '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${vm.ovmfCode}`,
      '-drive', `if=pflash,format=raw,unit=1,file=${vm.ovmfVars}`,
    );
  }
  args.push('-netdev', `tap,id=net0,ifname=${vm.tap},script=no,downscript=no`);
  const nic = ['virtio-net-pci', 'netdev=net0', `mac=${vm.mac}`, 'bootindex=1'];
  if (vm.firmware === 'uefi') nic.push('romfile=');
  args.push('-device', nic.join(','));
  vm.disks.forEach((d, i) => {
    // cache=unsafe: lab disks are throwaway; no host fsync per guest flush under TCG.
    args.push('-drive', `file=${d.file},format=${d.format},if=none,id=disk${i},cache=unsafe,discard=unmap`);
    args.push('-device', `virtio-blk-pci,drive=disk${i},serial=${d.serial},bootindex=${i + 2}`);
  });
  return args;
}
