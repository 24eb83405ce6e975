// Pure DHCPv4 codec (RFC 2131 §2 message format, RFC 2132 options). Every option is kept as raw
// bytes, known or not, in the order first seen. Tolerated on decode: pad options, a missing End,
// option overload into file/sname (option 52, RFC 2132 §9.3) and options split into several
// instances (RFC 3396: concatenated, in the order options field, file, sname). On encode, options
// longer than 255 bytes are split again (RFC 3396) and the message is padded to the 300-byte BOOTP
// minimum that old relays and PXE ROMs expect.
import { LpmosError, ErrorCode } from '../../core/errors.ts';
import { Opt, ipBytes, ipFromBytes, readU16 } from './options.ts';

export const MAGIC_COOKIE = 0x63825363; // RFC 2131 §3
const HEADER = 236;
const MIN_BOOTP = 300;

export interface DhcpOption {
  code: number;
  data: Uint8Array;
}

export interface DhcpMessage {
  op: number; // 1 BOOTREQUEST, 2 BOOTREPLY
  htype: number; // 1 = Ethernet
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number; // bit 15: broadcast
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** All 16 bytes of chaddr, as sent. */
  chaddr: Uint8Array;
  /** Server host name; empty when the field carried options (overload). */
  sname: string;
  /** Boot file name; empty when the field carried options (overload). */
  file: string;
  /** Options in first-seen order, one entry per code, data concatenated across instances (RFC 3396). */
  options: DhcpOption[];
}

export const BROADCAST_FLAG = 0x8000;

function parseError(msg: string): LpmosError {
  return new LpmosError(ErrorCode.Parse, `DHCP: ${msg}`);
}

/** Parses one options area into `into` (concatenating repeated codes); returns the overload value if seen. */
function parseOptions(buf: Uint8Array, start: number, end: number, into: Map<number, Uint8Array[]>, where: string): void {
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === Opt.Pad) { i++; continue; }
    if (code === Opt.End) return;
    if (i + 1 >= end) throw new Malformed(`option ${code} truncated (no length) in ${where}`);
    const len = buf[i + 1]!;
    if (i + 2 + len > end) throw new Malformed(`option ${code} truncated (length ${len}) in ${where}`);
    const chunk = buf.subarray(i + 2, i + 2 + len);
    const list = into.get(code);
    if (list) list.push(chunk);
    else into.set(code, [chunk]);
    i += 2 + len;
  }
  // No End option: tolerated when the area ends on an option boundary.
}

function cString(buf: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && buf[end] !== 0) end++;
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return new Uint8Array(chunks[0]!);
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}

/** Decodes a DHCP message; throws LpmosError E_PARSE on anything malformed. */
export function decode(input: Uint8Array): DhcpMessage {
  const r = tryDecode(input);
  if (!r.ok) throw parseError(r.error);
  return r.msg;
}

class Malformed {
  readonly error: string;
  constructor(error: string) { this.error = error; }
}

/**
 * Like decode(), without exceptions: the server's receive path uses it because building an
 * Error (with its stack trace) for every packet of a malformed flood costs more than parsing it.
 */
export function tryDecode(input: Uint8Array): { ok: true; msg: DhcpMessage } | { ok: false; error: string } {
  try {
    return { ok: true, msg: decodeUnchecked(input) };
  } catch (e) {
    if (e instanceof Malformed) return { ok: false, error: e.error };
    throw e;
  }
}

function decodeUnchecked(input: Uint8Array): DhcpMessage {
  const buf = input;
  if (buf.length < HEADER + 4) throw new Malformed(`message too short (${buf.length} bytes)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  if (dv.getUint32(HEADER) !== MAGIC_COOKIE) throw new Malformed('no DHCP magic cookie (plain BOOTP is not served)');
  const hlen = buf[2]!;
  if (hlen > 16) throw new Malformed(`hardware address length ${hlen} > 16`);

  const found = new Map<number, Uint8Array[]>();
  parseOptions(buf, HEADER + 4, buf.length, found, 'options');
  // RFC 2132 §9.3: option 52 appears in the options field only; its data is one byte.
  const overloadChunks = found.get(Opt.Overload);
  let overload = 0;
  if (overloadChunks) {
    const ov = concat(overloadChunks);
    if (ov.length !== 1 || ov[0]! < 1 || ov[0]! > 3) throw new Malformed('bad option overload (52) value');
    overload = ov[0]!;
    if (overload & 1) parseOptions(buf, 108, 236, found, 'file');
    if (overload & 2) parseOptions(buf, 44, 108, found, 'sname');
  }

  const options: DhcpOption[] = [];
  for (const [code, chunks] of found) options.push({ code, data: concat(chunks) });

  return {
    op: buf[0]!,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: dv.getUint32(4),
    secs: dv.getUint16(8),
    flags: dv.getUint16(10),
    ciaddr: ipFromBytes(buf, 12),
    yiaddr: ipFromBytes(buf, 16),
    siaddr: ipFromBytes(buf, 20),
    giaddr: ipFromBytes(buf, 24),
    chaddr: new Uint8Array(buf.subarray(28, 44)),
    sname: overload & 2 ? '' : cString(buf, 44, 64),
    file: overload & 1 ? '' : cString(buf, 108, 128),
    options,
  };
}

export interface EncodeOptions {
  /** Pad the message to at least this many bytes (default 300, the BOOTP minimum). */
  minSize?: number;
}

/** Encodes a message; options are written in the given order, each split into 255-byte pieces (RFC 3396). */
export function encode(msg: DhcpMessage, opts: EncodeOptions = {}): Buffer {
  let optLen = 0;
  for (const o of msg.options) {
    if (o.code === Opt.Pad || o.code === Opt.End) continue;
    optLen += o.data.length === 0 ? 2 : Math.ceil(o.data.length / 255) * 2 + o.data.length;
  }
  const size = Math.max(HEADER + 4 + optLen + 1, opts.minSize ?? MIN_BOOTP);
  const buf = Buffer.alloc(size); // zero-filled: the padding is Pad (0) options
  buf[0] = msg.op;
  buf[1] = msg.htype;
  buf[2] = msg.hlen;
  buf[3] = msg.hops;
  buf.writeUInt32BE(msg.xid >>> 0, 4);
  buf.writeUInt16BE(msg.secs & 0xffff, 8);
  buf.writeUInt16BE(msg.flags & 0xffff, 10);
  buf.set(ipBytes(msg.ciaddr), 12);
  buf.set(ipBytes(msg.yiaddr), 16);
  buf.set(ipBytes(msg.siaddr), 20);
  buf.set(ipBytes(msg.giaddr), 24);
  buf.set(msg.chaddr.subarray(0, 16), 28);
  const sname = Buffer.from(msg.sname, 'latin1');
  // A field may be filled completely (no terminating NUL), as decode() accepts.
  if (sname.length > 64) throw new LpmosError(ErrorCode.Validation, `DHCP: sname longer than 64 bytes: ${msg.sname}`);
  sname.copy(buf, 44);
  const file = Buffer.from(msg.file, 'latin1');
  if (file.length > 128) throw new LpmosError(ErrorCode.Validation, `DHCP: file longer than 128 bytes: ${msg.file}`);
  file.copy(buf, 108);
  buf.writeUInt32BE(MAGIC_COOKIE, HEADER);
  let i = HEADER + 4;
  for (const o of msg.options) {
    if (o.code === Opt.Pad || o.code === Opt.End) continue;
    if (o.data.length === 0) { buf[i++] = o.code; buf[i++] = 0; continue; }
    for (let off = 0; off < o.data.length; off += 255) {
      const piece = o.data.subarray(off, Math.min(off + 255, o.data.length));
      buf[i++] = o.code;
      buf[i++] = piece.length;
      buf.set(piece, i);
      i += piece.length;
    }
  }
  buf[i] = Opt.End;
  return buf;
}

/** The option's data, or undefined. */
export function getOption(msg: DhcpMessage, code: number): Uint8Array | undefined {
  for (const o of msg.options) if (o.code === code) return o.data;
  return undefined;
}

/** Client hardware address as lower-case `aa:bb:...` (first hlen bytes of chaddr). */
export function macOf(msg: DhcpMessage): string {
  const n = Math.min(msg.hlen, 16);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(msg.chaddr[i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** Largest reply the client accepts (option 57, RFC 2132 §9.10), default 576 minus IP/UDP headers. */
export function maxReplySize(msg: DhcpMessage): number {
  const v = readU16(getOption(msg, Opt.MaxMessageSize));
  return v !== undefined && v >= 576 ? v - 28 : 548;
}
