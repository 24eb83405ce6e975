// The sending side of one read transfer as a pure state machine: given an ACK, a timeout or the
// start, it says what to send next. The server file owns the socket and the timers.
//
// Blocks are counted with absolute, unbounded indices (1, 2, …); the 16-bit wire number is
// index mod 65536, so files of any size work for clients without options: after block 65535 comes
// block 0 (the rollover tftp-hpa, curl, atftp, iPXE and pxelinux expect).
//
// Windows follow RFC 7440: up to `windowsize` blocks are sent, the receiver ACKs the last one, or
// the last one it got in order when it saw a gap; the next window starts after the ACKed block.
// Duplicate ACKs never trigger a retransmission (RFC 1123 §4.2.3.1, the Sorcerer's Apprentice
// fix): only a timeout does.

export interface TransferState {
  readonly blksize: number;
  readonly windowsize: number;
  /** Number of DATA blocks; the last one is shorter than blksize (possibly empty). */
  readonly totalBlocks: number;
  /** Highest block the client acknowledged (0: none yet). */
  readonly acked: number;
  /** Highest block sent so far. */
  readonly sent: number;
  /** An OACK was sent and awaits its ACK 0. */
  readonly awaitingOackAck: boolean;
  /** Consecutive timeouts without progress. */
  readonly retries: number;
  readonly done: boolean;
}

export type Step =
  | { kind: 'oack' }
  /** Send blocks from..to (absolute, inclusive). */
  | { kind: 'data'; from: number; to: number }
  | { kind: 'none' }
  /** The last block is acknowledged. */
  | { kind: 'done' }
  /** Too many timeouts in a row. */
  | { kind: 'giveup' };

export type AckKind = 'progress' | 'duplicate' | 'stale';

export interface Transition {
  state: TransferState;
  step: Step;
}

export function totalBlocks(size: number, blksize: number): number {
  return Math.floor(size / blksize) + 1;
}

/** Byte range of an absolute block index. */
export function blockRange(index: number, blksize: number, size: number): { start: number; end: number } {
  const start = (index - 1) * blksize;
  return { start, end: Math.min(start + blksize, size) };
}

export function wireBlock(index: number): number {
  return index & 0xffff;
}

function window(s: TransferState): Transition {
  const from = s.acked + 1;
  const to = Math.min(s.acked + s.windowsize, s.totalBlocks);
  return { state: { ...s, sent: Math.max(s.sent, to) }, step: { kind: 'data', from, to } };
}

/** First step: an OACK when options were accepted, else the first window of DATA. */
export function begin(size: number, blksize: number, windowsize: number, withOack: boolean): Transition {
  const s: TransferState = {
    blksize,
    windowsize,
    totalBlocks: totalBlocks(size, blksize),
    acked: 0,
    sent: 0,
    awaitingOackAck: withOack,
    retries: 0,
    done: false,
  };
  return withOack ? { state: s, step: { kind: 'oack' } } : window(s);
}

/** Maps a 16-bit ACK number to the absolute block it most plausibly acknowledges (at or below `sent`). */
export function ackedIndex(s: TransferState, wire: number): number {
  const distance = (wireBlock(s.sent) - wire + 0x10000) & 0xffff;
  return s.sent - distance;
}

export function onAck(s: TransferState, wire: number): Transition & { ack: AckKind } {
  if (s.done) return { state: s, step: { kind: 'none' }, ack: 'stale' };
  if (s.awaitingOackAck) {
    if (wire !== 0) return { state: s, step: { kind: 'none' }, ack: 'stale' };
    return { ...window({ ...s, awaitingOackAck: false, retries: 0 }), ack: 'progress' };
  }
  const index = ackedIndex(s, wire);
  if (index > s.acked && index <= s.sent) {
    if (index === s.totalBlocks) return { state: { ...s, acked: index, retries: 0, done: true }, step: { kind: 'done' }, ack: 'progress' };
    // RFC 7440: an ACK inside the window reports a gap; resend from the block after it. The same as
    // window({ ...s, acked: index, retries: 0 }), built in one object: this runs once per ACK.
    const to = Math.min(index + s.windowsize, s.totalBlocks);
    return { state: { ...s, acked: index, retries: 0, sent: Math.max(s.sent, to) }, step: { kind: 'data', from: index + 1, to }, ack: 'progress' };
  }
  if (index === s.acked) return { state: s, step: { kind: 'none' }, ack: 'duplicate' };
  return { state: s, step: { kind: 'none' }, ack: 'stale' };
}

export function onTimeout(s: TransferState, maxRetries: number): Transition {
  if (s.done) return { state: s, step: { kind: 'none' } };
  if (s.retries >= maxRetries) return { state: s, step: { kind: 'giveup' } };
  const next = { ...s, retries: s.retries + 1 };
  if (s.awaitingOackAck) return { state: next, step: { kind: 'oack' } };
  return window(next);
}
