// Option negotiation (RFC 2347) for a read request: what the server accepts and echoes in its OACK.
// Options the server does not know or cannot accept are left out of the OACK, never refused: the
// client then falls back to the RFC 1350 default for them.
import type { Options } from './packet.ts';

/** RFC 2348: blksize between 8 and 65464 octets. */
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = 65464;
export const DEFAULT_BLKSIZE = 512;
/** IPv4 (20) + UDP (8) + TFTP DATA header (4): a block of MTU − 32 bytes fills one unfragmented datagram. */
export const DATAGRAM_OVERHEAD = 32;

export interface NegotiationLimits {
  /** Largest block the path allows (MTU − 32), at most 65464. */
  maxBlksize: number;
  /** Largest window (RFC 7440) the server grants. */
  maxWindowsize: number;
  /** Retransmission timeout when the client asks for none. */
  defaultTimeoutMs: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** Options for the OACK; empty when the request carried none we accept (then DATA 1 comes first). */
  reply: Options;
}

/** A decimal integer as the RFCs write it: digits only, no sign, no spaces, no exponent. */
function parseCount(v: string): number | undefined {
  if (!/^[0-9]{1,10}$/.test(v)) return undefined;
  return Number(v);
}

export function negotiate(requested: Options, fileSize: number | undefined, limits: NegotiationLimits): Negotiated {
  const reply: Options = new Map();
  let blksize = DEFAULT_BLKSIZE;
  let windowsize = 1;
  let timeoutMs = limits.defaultTimeoutMs;

  const b = requested.has('blksize') ? parseCount(requested.get('blksize')!) : undefined;
  // RFC 2348: below 8 is invalid (ignored); above what we allow, we answer with a smaller value.
  if (b !== undefined && b >= MIN_BLKSIZE) {
    blksize = Math.min(b, MAX_BLKSIZE, Math.max(MIN_BLKSIZE, limits.maxBlksize));
    reply.set('blksize', String(blksize));
  }

  const t = requested.has('timeout') ? parseCount(requested.get('timeout')!) : undefined;
  // RFC 2349: 1..255 seconds, and the server must echo exactly the requested value or leave it out.
  if (t !== undefined && t >= 1 && t <= 255) {
    timeoutMs = t * 1000;
    reply.set('timeout', String(t));
  }

  // RFC 2349: tsize in a RRQ is 0; the server answers with the file size when it knows it.
  if (requested.has('tsize') && fileSize !== undefined && parseCount(requested.get('tsize')!) !== undefined) {
    reply.set('tsize', String(fileSize));
  }

  const w = requested.has('windowsize') ? parseCount(requested.get('windowsize')!) : undefined;
  // RFC 7440: 1..65535 blocks; the server may answer with a smaller window.
  if (w !== undefined && w >= 1 && w <= 65535) {
    windowsize = Math.min(w, Math.max(1, limits.maxWindowsize));
    reply.set('windowsize', String(windowsize));
  }

  return { blksize, windowsize, timeoutMs, reply };
}
