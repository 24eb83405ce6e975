// /sys/class/dmi/id/* (the kernel's dmi-id driver): the identity strings without dmidecode, used
// when dmidecode is missing or cannot read the table. No processors and DIMMs here.
import type { Dmi } from '../../core/model/inventory.ts';
import { clean, cleanUuid } from './text.ts';

/** The files read, relative to /sys/class/dmi/id. product_serial/product_uuid/board_serial are root-only. */
export const SYSFS_DMI_FILES = [
  'sys_vendor', 'product_name', 'product_version', 'product_serial', 'product_uuid', 'product_sku', 'product_family',
  'board_vendor', 'board_name', 'board_version', 'board_serial', 'bios_vendor', 'bios_version', 'bios_date',
] as const;

export type SysfsDmiFiles = Partial<Record<(typeof SYSFS_DMI_FILES)[number], string>>;

export function parseSysfsDmi(files: SysfsDmiFiles): Dmi {
  return {
    system: {
      vendor: clean(files.sys_vendor),
      product: clean(files.product_name),
      version: clean(files.product_version),
      serial: clean(files.product_serial),
      uuid: cleanUuid(files.product_uuid),
      sku: clean(files.product_sku),
      family: clean(files.product_family),
    },
    board: { vendor: clean(files.board_vendor), product: clean(files.board_name), version: clean(files.board_version), serial: clean(files.board_serial) },
    bios: { vendor: clean(files.bios_vendor), version: clean(files.bios_version), date: clean(files.bios_date) },
  };
}
