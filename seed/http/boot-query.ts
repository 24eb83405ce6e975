// The identity a boot client sends in the query (`/boot/ipxe?mac=…&uuid=…&serial=…&arch=…&platform=…`),
// checked strictly: an unknown parameter or a malformed value is a 400 naming it, so a broken chain
// script shows up at the first boot instead of enrolling a machine under a wrong identity.
// Empty values are "not sent": iPXE expands a setting the firmware lacks to "".
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { normalizeMac } from '../../core/model/common.ts';

/** iPXE's `${platform}`. */
export const PLATFORMS = ['pcbios', 'efi'] as const;
export type Platform = (typeof PLATFORMS)[number];
/** iPXE's `${buildarch}`. */
export const ARCHES = ['i386', 'x86_64', 'arm32', 'arm64', 'riscv32', 'riscv64', 'loong64'] as const;
export type Arch = (typeof ARCHES)[number];

export interface BootQuery {
  /** Canonical `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  /** Lower case; only when it is an RFC 9562 UUID (SMBIOS tables of some boards are not). */
  uuid?: string;
  serial?: string;
  arch?: Arch;
  platform?: Platform;
}

const ALLOWED = new Set(['mac', 'uuid', 'serial', 'arch', 'platform']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RFC_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
/** SMBIOS placeholders that identify nothing (dmidecode prints them on unconfigured boards). */
const PLACEHOLDER_SERIALS = new Set(['', 'to be filled by o.e.m.', 'not specified', 'default string', 'system serial number', '0123456789', 'none', 'n/a', 'not applicable', '0']);

function bad(param: string, message: string): LpmosError {
  return new LpmosError(ErrorCode.Usage, `query parameter "${param}": ${message}`, { details: [{ path: `query.${param}`, message }] });
}

/** Parses the query of a boot request; `macRequired` false for menus that may be asked without one. */
export function parseBootQuery(params: URLSearchParams, macRequired = true): Partial<BootQuery> & { mac?: string } {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (!ALLOWED.has(key)) throw bad(key, `unknown parameter (known: ${[...ALLOWED].join(', ')})`);
    if (seen.has(key)) throw bad(key, 'given more than once');
    seen.add(key);
  }
  const get = (k: string): string => params.get(k)?.trim() ?? '';
  const out: Partial<BootQuery> = {};
  const mac = get('mac');
  if (mac) {
    const m = normalizeMac(mac);
    if (!m) throw bad('mac', `"${mac}" is not a unicast MAC address (expected aa:bb:cc:dd:ee:ff)`);
    out.mac = m;
  } else if (macRequired) {
    throw bad('mac', 'missing: the boot script must send the MAC address it booted from');
  }
  const uuid = get('uuid');
  if (uuid) {
    if (!GUID.test(uuid)) throw bad('uuid', `"${uuid}" is not a UUID (expected 8-4-4-4-12 hex digits)`);
    if (RFC_UUID.test(uuid)) out.uuid = uuid.toLowerCase();
  }
  const serial = get('serial');
  if (serial) {
    if (!/^[\x20-\x7e]{1,128}$/.test(serial)) throw bad('serial', 'must be at most 128 printable ASCII characters');
    if (!PLACEHOLDER_SERIALS.has(serial.toLowerCase())) out.serial = serial;
  }
  const arch = get('arch');
  if (arch) {
    if (!(ARCHES as readonly string[]).includes(arch)) throw bad('arch', `"${arch}" is not an iPXE build architecture (${ARCHES.join(', ')})`);
    out.arch = arch as Arch;
  }
  const platform = get('platform');
  if (platform) {
    if (!(PLATFORMS as readonly string[]).includes(platform)) throw bad('platform', `"${platform}" is not an iPXE platform (${PLATFORMS.join(', ')})`);
    out.platform = platform as Platform;
  }
  return out;
}
