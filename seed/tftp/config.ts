// Configuration of the seed's TFTP server (DESIGN §5.7: one typed schema, flags name the field).
// Flags: --tftp-root DIR, --tftp-address, --tftp-port, --tftp-max-transfers, --tftp-timeout-ms,
// --tftp-retries, --tftp-deadline-s, --tftp-max-blksize, --tftp-max-windowsize, --tftp-spin-us.
import { z } from 'zod';
import { MAX_BLKSIZE, MIN_BLKSIZE } from './options.ts';

export const tftpConfigSchema = z.strictObject({
  /** Static tree for boot loaders (iPXE, pxelinux, GRUB, shim). */
  root: z.string().min(1, '--tftp-root must name a directory'),
  /** The provisioning address to bind to (never all of the host's interfaces by accident). */
  address: z.ipv4({ message: '--tftp-address must be an IPv4 address' }),
  port: z.number().int().min(0).max(65535).default(69),
  /** Concurrent transfers; past it a request gets ERROR 0 "server busy". */
  maxTransfers: z.number().int().min(1).max(10000).default(256),
  /** Retransmission timeout when the client does not ask for one (RFC 2349 `timeout`). */
  timeoutMs: z.number().int().min(10).max(255_000).default(1000),
  /** Timeouts in a row before a transfer is given up. */
  retries: z.number().int().min(0).max(100).default(5),
  /** Whole-transfer deadline: a transfer still running after it is aborted. */
  deadlineMs: z.number().int().min(100).default(10 * 60_000),
  /** Upper bound for blksize in addition to the path MTU (RFC 2348). */
  maxBlksize: z.number().int().min(MIN_BLKSIZE).max(MAX_BLKSIZE).default(MAX_BLKSIZE),
  /** Time allowed to render a dynamic file (a store lookup); past it the client gets ERROR 0. */
  renderTimeoutMs: z.number().int().min(10).default(3000),
  /**
   * Data path for files of the root in octet mode: `worker` runs them in a worker thread with direct
   * socket calls (fast-worker.ts); `loop` on the event loop with node:dgram (session.ts).
   */
  engine: z.enum(['worker', 'loop']).default('worker'),
  /**
   * Worker engine, lock-step transfer running alone: run the worker thread on the CPU that receives
   * the client's datagrams (SO_INCOMING_CPU), so each block's wake-up stays on one CPU.
   */
  followCpu: z.boolean().default(true),
  /**
   * Worker engine, lock-step transfer running alone: an ACK may be waited for awake (polling the
   * socket) for up to this many µs before sleeping; each transfer measures awake against asleep
   * (followCpu) and keeps the faster (wait-mode.ts). 0: always asleep.
   */
  spinUs: z.number().int().min(0).max(10_000).default(1000),
  /** Largest window granted (RFC 7440). */
  maxWindowsize: z.number().int().min(1).max(65535).default(64),
});

export type TftpConfig = z.infer<typeof tftpConfigSchema>;
export type TftpConfigInput = z.input<typeof tftpConfigSchema>;
