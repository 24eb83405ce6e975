// Pure client classification: who is asking, from the options of its request.
// Architecture from option 93 (RFC 4578 §2.1, IANA "Processor Architecture Types"),
// PXE/HTTP boot from vendor class 60, UUID from 97 (RFC 4578 §2.3), iPXE from user class 77
// (RFC 3004) "iPXE" or its encapsulated option 175, relay location from option 82 (RFC 3046).
import { type DhcpMessage, getOption, macOf } from './codec.ts';
import { Opt, hex, readIp, readSubOptions, readText, readU16 } from './options.ts';

export type Arch = 'bios' | 'uefi-ia32' | 'uefi-x64' | 'uefi-arm32' | 'uefi-arm64' | 'unknown';

export interface RelayInfo {
  giaddr: string;
  /** Option 82 sub-option 1 (agent circuit id), as text when printable, else hex. */
  circuitId?: string;
  /** Option 82 sub-option 2 (agent remote id), as text when printable, else hex. */
  remoteId?: string;
  /** The whole option 82 as received, to echo back unchanged (RFC 3046 §2.2). */
  raw?: Uint8Array;
}

export interface ClientInfo {
  mac: string;
  messageType?: number;
  /** Raw option 93 value (first entry when the client lists several). */
  archCode?: number;
  arch: Arch;
  /** Vendor class starts with "PXEClient" (PXE spec 2.1). */
  pxe: boolean;
  /** UEFI HTTP boot: vendor class "HTTPClient" or an HTTP architecture type (15, 16, 19). */
  httpBoot: boolean;
  /** Firmware is iPXE (user class "iPXE" or option 175 present). */
  ipxe: boolean;
  uuid?: string;
  vendorClass?: string;
  hostname?: string;
  requestedIp?: string;
  serverId?: string;
  relay?: RelayInfo;
}

/** RFC 4578 / IANA processor architecture types to our coarse architectures. */
export function archFromCode(code: number | undefined): Arch {
  switch (code) {
    case 0: return 'bios';
    case 6: return 'uefi-ia32';
    case 7: case 9: case 16: return 'uefi-x64'; // 7 EFI BC (x64 in practice), 9 x86-64, 16 x64 HTTP
    case 15: return 'uefi-ia32'; // x86 UEFI HTTP
    case 10: case 18: return 'uefi-arm32';
    case 11: case 19: return 'uefi-arm64'; // 19 arm64 HTTP
    default: return 'unknown';
  }
}

const HTTP_ARCHES = new Set([15, 16, 18, 19]);

/** Text when every byte is printable ASCII, hex otherwise (circuit ids are often binary). */
function printable(b: Uint8Array): string {
  for (const c of b) if (c < 0x20 || c > 0x7e) return hex(b);
  return Buffer.from(b).toString('latin1');
}

/** User class (77) per RFC 3004 is length-prefixed entries; iPXE sends a bare "iPXE". Accept both. */
function userClasses(b: Uint8Array | undefined): string[] {
  if (!b || b.length === 0) return [];
  const out: string[] = [];
  let i = 0;
  while (i < b.length) {
    const len = b[i]!;
    if (len === 0 || i + 1 + len > b.length) return [Buffer.from(b).toString('latin1')];
    out.push(Buffer.from(b.subarray(i + 1, i + 1 + len)).toString('latin1'));
    i += 1 + len;
  }
  return [...out, Buffer.from(b).toString('latin1')];
}

/** UUID from option 97: type byte 0 then 16 bytes (RFC 4578 §2.3), printed in wire order. */
function uuidOf(b: Uint8Array | undefined): string | undefined {
  if (!b || b.length !== 17 || b[0] !== 0) return undefined;
  const h = hex(b.subarray(1));
  if (/^0+$/.test(h) || /^f+$/.test(h)) return undefined; // unset SMBIOS UUID
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function relayOf(msg: DhcpMessage): RelayInfo | undefined {
  if (msg.giaddr === '0.0.0.0') return undefined;
  const raw = getOption(msg, Opt.RelayAgentInfo);
  const subs = readSubOptions(raw);
  const info: RelayInfo = { giaddr: msg.giaddr };
  const circuit = subs?.get(1);
  const remote = subs?.get(2);
  if (circuit) info.circuitId = printable(circuit);
  if (remote) info.remoteId = printable(remote);
  if (raw) info.raw = raw;
  return info;
}

export function classify(msg: DhcpMessage): ClientInfo {
  const vendorClass = readText(getOption(msg, Opt.VendorClass));
  const archRaw = getOption(msg, Opt.ClientArch);
  const archCode = archRaw && archRaw.length >= 2 ? readU16(archRaw.subarray(0, 2)) : undefined;
  const userClass = userClasses(getOption(msg, Opt.UserClass));
  const info: ClientInfo = {
    mac: macOf(msg),
    arch: archFromCode(archCode),
    pxe: vendorClass?.startsWith('PXEClient') ?? false,
    httpBoot: (vendorClass?.startsWith('HTTPClient') ?? false) || (archCode !== undefined && HTTP_ARCHES.has(archCode)),
    ipxe: userClass.includes('iPXE') || getOption(msg, Opt.IpxeEncap) !== undefined,
  };
  const type = getOption(msg, Opt.MessageType);
  if (type && type.length === 1) info.messageType = type[0]!;
  if (archCode !== undefined) info.archCode = archCode;
  if (info.arch === 'unknown' && archCode === undefined && vendorClass) {
    // PXE vendor class "PXEClient:Arch:00007:UNDI:003016" carries the arch when option 93 is missing.
    const m = /^(?:PXE|HTTP)Client:Arch:(\d{5})/.exec(vendorClass);
    if (m) { info.archCode = Number(m[1]); info.arch = archFromCode(info.archCode); }
  }
  const uuid = uuidOf(getOption(msg, Opt.ClientUuid));
  if (uuid) info.uuid = uuid;
  if (vendorClass !== undefined) info.vendorClass = vendorClass;
  const hostname = readText(getOption(msg, Opt.Hostname));
  if (hostname) info.hostname = hostname;
  const requestedIp = readIp(getOption(msg, Opt.RequestedIp));
  if (requestedIp) info.requestedIp = requestedIp;
  const serverId = readIp(getOption(msg, Opt.ServerId));
  if (serverId) info.serverId = serverId;
  const relay = relayOf(msg);
  if (relay) info.relay = relay;
  return info;
}
