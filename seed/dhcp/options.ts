// DHCP option codes (RFC 2132 and later) and typed readers/writers for option payloads.
// The codec keeps every option as raw bytes; these helpers give meaning to the ones we use.

export const Opt = {
  Pad: 0,
  SubnetMask: 1,
  Router: 3,
  DnsServers: 6,
  Hostname: 12,
  DomainName: 15,
  BroadcastAddress: 28,
  VendorSpecific: 43,
  RequestedIp: 50,
  LeaseTime: 51,
  Overload: 52, // RFC 2132 §9.3: options continue in file (1), sname (2) or both (3)
  MessageType: 53,
  ServerId: 54,
  ParameterList: 55,
  Message: 56,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  VendorClass: 60,
  ClientId: 61,
  TftpServerName: 66,
  BootfileName: 67,
  UserClass: 77, // RFC 3004
  RelayAgentInfo: 82, // RFC 3046
  ClientArch: 93, // RFC 4578
  ClientNdi: 94, // RFC 4578
  ClientUuid: 97, // RFC 4578
  IpxeEncap: 175, // iPXE's feature flags (encapsulated)
  End: 255,
} as const;

/** DHCP message types, option 53 (RFC 2132 §9.6). */
export const MsgType = {
  Discover: 1,
  Offer: 2,
  Request: 3,
  Decline: 4,
  Ack: 5,
  Nak: 6,
  Release: 7,
  Inform: 8,
} as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

export const msgTypeName: Record<number, string> = {
  1: 'DISCOVER', 2: 'OFFER', 3: 'REQUEST', 4: 'DECLINE', 5: 'ACK', 6: 'NAK', 7: 'RELEASE', 8: 'INFORM',
};

/** Dotted quad from 4 bytes at `off`. */
export function ipFromBytes(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isIpv4(s: string): boolean {
  const m = IPV4.exec(s);
  return !!m && m.slice(1).every((p) => Number(p) <= 255);
}

/** Address as an unsigned 32-bit number (for ranges and subnet arithmetic). */
export function ipToInt(ip: string): number {
  // Hand-rolled (no regex, no arrays): called several times per packet.
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) throw new RangeError(`not an IPv4 address: ${ip}`);
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) throw new RangeError(`not an IPv4 address: ${ip}`);
    } else {
      throw new RangeError(`not an IPv4 address: ${ip}`);
    }
  }
  if (dots !== 3 || digits === 0) throw new RangeError(`not an IPv4 address: ${ip}`);
  return n * 256 + part;
}

export function intToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function ipBytes(ip: string): Uint8Array {
  const n = ipToInt(ip);
  return Uint8Array.of((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

export function ipListBytes(ips: readonly string[]): Uint8Array {
  const out = new Uint8Array(ips.length * 4);
  ips.forEach((ip, i) => out.set(ipBytes(ip), i * 4));
  return out;
}

export function u32Bytes(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

export function readU32(b: Uint8Array | undefined): number | undefined {
  if (!b || b.length !== 4) return undefined;
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

export function readU16(b: Uint8Array | undefined): number | undefined {
  if (!b || b.length !== 2) return undefined;
  return (b[0]! << 8) | b[1]!;
}

export function readIp(b: Uint8Array | undefined): string | undefined {
  return b && b.length === 4 ? ipFromBytes(b) : undefined;
}

/** Text option (hostname, vendor class, ...): latin1 so no byte is lost; trailing NULs cut (some firmware adds one). */
export function readText(b: Uint8Array | undefined): string | undefined {
  if (!b) return undefined;
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return Buffer.from(b.buffer, b.byteOffset, end).toString('latin1');
}

export function textBytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

/** Sub-options in the code/length/value form of options 43, 82 and 175; undefined when malformed. */
export function readSubOptions(b: Uint8Array | undefined): Map<number, Uint8Array> | undefined {
  if (!b) return undefined;
  const out = new Map<number, Uint8Array>();
  let i = 0;
  while (i < b.length) {
    const code = b[i]!;
    if (code === 0) { i++; continue; }
    if (code === 255) break;
    if (i + 1 >= b.length) return undefined;
    const len = b[i + 1]!;
    if (i + 2 + len > b.length) return undefined;
    out.set(code, b.subarray(i + 2, i + 2 + len));
    i += 2 + len;
  }
  return out;
}

export function subOptionBytes(subs: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const parts: number[] = [];
  for (const [code, data] of subs) parts.push(code, data.length, ...data);
  return Uint8Array.from(parts);
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}
