// TFTP packet codec (RFC 1350, option extension RFC 2347): pure functions from bytes to typed
// packets and back. decode() never throws: a malformed packet becomes { op: 'invalid', reason }.

export const Opcode = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** Error codes of RFC 1350 §5 plus 8 (option negotiation refused, RFC 2347). */
export const TftpErrorCode = {
  NotDefined: 0,
  FileNotFound: 1,
  AccessViolation: 2,
  DiskFull: 3,
  IllegalOperation: 4,
  UnknownTid: 5,
  FileExists: 6,
  NoSuchUser: 7,
  OptionRefused: 8,
} as const;
export type TftpErrorCode = (typeof TftpErrorCode)[keyof typeof TftpErrorCode];

export type Mode = 'netascii' | 'octet' | 'mail';
const MODES: readonly string[] = ['netascii', 'octet', 'mail'];

/** Option names are case-insensitive (RFC 2347): keys are lower-cased, values kept as sent. */
export type Options = Map<string, string>;

export type Request = { op: 'rrq' | 'wrq'; filename: string; mode: Mode; options: Options };
export type Data = { op: 'data'; block: number; data: Buffer };
export type Ack = { op: 'ack'; block: number };
export type ErrorPacket = { op: 'error'; code: number; message: string };
export type Oack = { op: 'oack'; options: Options };
export type Invalid = {
  op: 'invalid';
  reason: string;
  /** Set when a request's filename held a NUL byte: the path must be refused, not parsed further. */
  nulInFilename?: boolean;
};
export type Packet = Request | Data | Ack | ErrorPacket | Oack | Invalid;

/** Splits NUL-terminated strings; undefined when the last one is not terminated. */
function splitStrings(buf: Buffer, start: number): Buffer[] | undefined {
  const out: Buffer[] = [];
  let pos = start;
  while (pos < buf.length) {
    const end = buf.indexOf(0, pos);
    if (end < 0) return undefined;
    out.push(buf.subarray(pos, end));
    pos = end + 1;
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeRequest(op: 'rrq' | 'wrq', buf: Buffer): Request | Invalid {
  const fields = splitStrings(buf, 2);
  if (!fields || fields.length < 2) return { op: 'invalid', reason: 'request without NUL-terminated filename and mode' };
  const asText = fields.map((f) => f.toString('latin1'));
  const mode = asText[1]!.toLowerCase();
  if (!MODES.includes(mode)) {
    // "a\0b\0octet\0": a NUL inside the filename shifts the mode to a later field.
    const nul = asText.slice(2).some((f) => MODES.includes(f.toLowerCase()));
    return { op: 'invalid', reason: nul ? 'NUL byte in filename' : `unknown mode "${asText[1]}"`, nulInFilename: nul };
  }
  let filename: string;
  try {
    filename = utf8.decode(fields[0]!);
  } catch {
    return { op: 'invalid', reason: 'filename is not valid UTF-8' };
  }
  const options: Options = new Map();
  // RFC 2347: options follow the mode as name/value pairs; a trailing unpaired name is ignored.
  for (let i = 2; i + 1 < asText.length; i += 2) {
    const name = asText[i]!.toLowerCase();
    if (name && !options.has(name)) options.set(name, asText[i + 1]!);
  }
  return { op, filename, mode: mode as Mode, options };
}

function decodeOptions(buf: Buffer): Oack | Invalid {
  const fields = splitStrings(buf, 2);
  if (!fields || fields.length % 2 !== 0) return { op: 'invalid', reason: 'OACK with unpaired options' };
  const options: Options = new Map();
  for (let i = 0; i < fields.length; i += 2) options.set(fields[i]!.toString('latin1').toLowerCase(), fields[i + 1]!.toString('latin1'));
  return { op: 'oack', options };
}

export function decode(buf: Buffer): Packet {
  if (buf.length < 2) return { op: 'invalid', reason: `packet of ${buf.length} bytes` };
  const opcode = buf.readUInt16BE(0);
  switch (opcode) {
    case Opcode.RRQ:
      return decodeRequest('rrq', buf);
    case Opcode.WRQ:
      return decodeRequest('wrq', buf);
    case Opcode.DATA:
      if (buf.length < 4) return { op: 'invalid', reason: 'DATA shorter than 4 bytes' };
      return { op: 'data', block: buf.readUInt16BE(2), data: buf.subarray(4) };
    case Opcode.ACK:
      // Some clients pad ACKs; only the first 4 bytes count.
      if (buf.length < 4) return { op: 'invalid', reason: 'ACK shorter than 4 bytes' };
      return { op: 'ack', block: buf.readUInt16BE(2) };
    case Opcode.ERROR: {
      if (buf.length < 4) return { op: 'invalid', reason: 'ERROR shorter than 4 bytes' };
      const end = buf.indexOf(0, 4);
      const message = buf.subarray(4, end < 0 ? buf.length : end).toString('latin1');
      return { op: 'error', code: buf.readUInt16BE(2), message };
    }
    case Opcode.OACK:
      return decodeOptions(buf);
    default:
      return { op: 'invalid', reason: `unknown opcode ${opcode}` };
  }
}

function strings(opcode: number, parts: string[]): Buffer {
  const bodies = parts.map((p) => Buffer.from(p, 'latin1'));
  const len = bodies.reduce((n, b) => n + b.length + 1, 2);
  const out = Buffer.alloc(len);
  out.writeUInt16BE(opcode, 0);
  let pos = 2;
  for (const b of bodies) {
    b.copy(out, pos);
    pos += b.length + 1; // Buffer.alloc left the NUL terminator in place
  }
  return out;
}

export function encodeRequest(op: 'rrq' | 'wrq', filename: string, mode: Mode, options: Options = new Map()): Buffer {
  const name = Buffer.from(filename, 'utf8').toString('latin1');
  const parts = [name, mode];
  for (const [k, v] of options) parts.push(k, v);
  return strings(op === 'rrq' ? Opcode.RRQ : Opcode.WRQ, parts);
}

/** The 4-byte DATA header; the payload is sent as a second buffer (scatter/gather, no copy). */
export function dataHeader(block: number): Buffer {
  const h = Buffer.allocUnsafe(4);
  h.writeUInt16BE(Opcode.DATA, 0);
  h.writeUInt16BE(block & 0xffff, 2);
  return h;
}

export function encodeData(block: number, data: Buffer): Buffer {
  return Buffer.concat([dataHeader(block), data]);
}

export function encodeAck(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(Opcode.ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export function encodeError(code: number, message: string): Buffer {
  const msg = Buffer.from(message, 'latin1');
  const out = Buffer.alloc(5 + msg.length);
  out.writeUInt16BE(Opcode.ERROR, 0);
  out.writeUInt16BE(code, 2);
  msg.copy(out, 4);
  return out;
}

export function encodeOack(options: Options): Buffer {
  const parts: string[] = [];
  for (const [k, v] of options) parts.push(k, v);
  return strings(Opcode.OACK, parts);
}
