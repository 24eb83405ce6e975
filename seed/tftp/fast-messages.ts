// The messages between the TFTP server's main thread (fast-engine.ts) and its fast-path worker
// (fast-worker.ts): start, abort and cancel go to the worker; retransmit counts and end come back.
import type { SessionResult } from './session.ts';

export interface FastStart {
  type: 'start';
  id: number;
  /** Connected transfer socket (blocking; every call but the single-transfer recv passes MSG_DONTWAIT); the worker closes it. */
  sock: number;
  /** Open file descriptor of the (confined) file; the main thread closes it after `end`. */
  fileFd: number;
  size: number;
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** Encoded OACK, or null when no option was accepted (DATA 1 comes first). */
  oack: Uint8Array | null;
  retries: number;
  deadlineMs: number;
  /** Run on the CPU the client's datagrams arrive on while this is the only transfer (lock-step). */
  followCpu: boolean;
  /** While this is the only transfer, an ACK may be waited for awake for up to this long (µs; wait-mode.ts); 0: always asleep. */
  spinUs: number;
}
export interface FastAbort {
  type: 'abort';
  message: string;
}
/** Ends one transfer without a word to the client: it asked for something else from the same port. */
export interface FastCancel {
  type: 'cancel';
  id: number;
}
/** Sent on every timeout that resent packets, so the metrics are live. */
export interface FastRetransmit {
  type: 'retransmit';
  id: number;
  count: number;
}
export interface FastEnd {
  type: 'end';
  id: number;
  result: SessionResult;
  acked: number;
  retransmits: number;
  dropped: number;
  /** Awake waits for an ACK (spinUs), how many caught it, and how often each mode won a run (wait-mode.ts); absent when none ran. */
  awake?: { waits: number; caught: number; runs: { awake: number; asleep: number } };
  error?: { code: number; message: string };
}
