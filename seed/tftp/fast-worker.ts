// The TFTP fast path: a worker thread that runs the data phase of file transfers with direct
// socket calls (libc.ts) and poll(2), one small loop for all its transfers, instead of one
// event-loop callback and one libuv send request per datagram. The decisions are the same pure
// state machine (transfer.ts) as the event-loop Session; only the I/O differs. The main thread
// keeps requests, confinement, option negotiation, logging and metrics.
//
// A lock-step transfer costs one round trip per block, and on a small machine the round trip is
// mostly wake-ups, so with a single transfer running the loop does the least per block: a
// blocking recv(2) (SO_RCVTIMEO) instead of poll(2) + recv(2), the next blocks read from the file
// before it waits instead of after the ACK, and it waits for the ACK either awake (polling the
// socket for up to `spinUs`: waking a sleeping thread is the costliest part of a round trip on a
// virtual machine) or asleep on the CPU the client's datagrams arrive on (affinity.ts), whichever
// the transfer measures to be faster (wait-mode.ts).
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import { CpuFollower } from './affinity.ts';
import { EAGAIN, EINTR, loadLibc, MSG_DONTWAIT, MSG_NOSIGNAL, POLLERR, POLLIN, POLLOUT, SO_RCVTIMEO, SOL_SOCKET } from './libc.ts';
import { encodeError, TftpErrorCode } from './packet.ts';
import type { SessionResult } from './session.ts';
import type { FastAbort, FastCancel, FastEnd, FastRetransmit, FastStart } from './fast-messages.ts';
import { WaitChooser } from './wait-mode.ts';
import { begin, onAck, onTimeout, type Step } from './transfer.ts';
import { chunk, chunkBlocksFor, type ChunkSource } from './fast-chunks.ts';


/** Longest the loop blocks in poll(2) or runs before it lets the thread's own events in (new transfers, abort). */
const SLICE_MS = 5;

interface T extends ChunkSource {
  id: number;
  sock: number;
  oack: Buffer | null;
  timeoutMs: number;
  retries: number;
  retransmitAt: number;
  deadlineAt: number;
  /** Blocks of the current window still to send (after EAGAIN, when the send buffer was full). */
  queue: { next: number; to: number } | null;
  /** The object `queue` points to while blocks are queued. */
  window: { next: number; to: number };
  followCpu: boolean;
  /** Longest awake wait for an ACK, ms. */
  spinMs: number;
  /** Awake or asleep (spinUs > 0, lock-step, the only transfer). */
  wait: WaitChooser | null;
  /** Awake waits so far, and those that caught the ACK. */
  spins: number;
  spinHits: number;
  /** Datagrams received (the CPU is followed on some of them). */
  received: number;
  retransmits: number;
  dropped: number;
  ended: boolean;
}

const libc = loadLibc();
const cpu = new CpuFollower();
/** The client's CPU is looked up on the first datagram and every this many after it. */
const FOLLOW_EVERY = 16;
const transfers = new Map<number, T>();
const rbuf = Buffer.alloc(2048);
let pfds = Buffer.alloc(8 * 64);
let running = false;
/** The transfers in poll order, rebuilt only when one starts or ends. */
let list: T[] = [];
let listDirty = false;

function post(m: FastEnd | FastRetransmit): void {
  parentPort!.postMessage(m);
}

function end(t: T, result: SessionResult, error?: { code: number; message: string }): void {
  if (t.ended) return;
  t.ended = true;
  libc.close(t.sock);
  transfers.delete(t.id);
  listDirty = true;
  t.chunks.clear();
  t.spare = [];
  const awake = t.wait && t.spins > 0 ? { awake: { waits: t.spins, caught: t.spinHits, runs: { ...t.wait.chosen } } } : {};
  post({ type: 'end', id: t.id, result, acked: t.s.acked, retransmits: t.retransmits, dropped: t.dropped, ...awake, ...(error ? { error } : {}) });
}

function fail(t: T, result: SessionResult, code: number, message: string): void {
  const e = encodeError(code, message);
  libc.send(t.sock, e, e.length, MSG_DONTWAIT | MSG_NOSIGNAL);
  end(t, result, { code, message });
}

/**
 * Reads the blocks the next window will send, if they are not in memory yet: done while the client
 * is busy with the current window, so an ACK is answered without a file read.
 */
function prefetch(t: T): void {
  const next = t.s.sent + 1;
  if (t.s.done || t.s.awaitingOackAck || next > t.s.totalBlocks) return;
  chunk(t, Math.floor((next - 1) / t.chunkBlocks));
}

/** Sends what is queued; stops at EAGAIN (poll then waits for POLLOUT). */
function flush(t: T): void {
  const q = t.queue;
  if (!q) return;
  while (q.next <= q.to) {
    const i = q.next;
    const c = Math.floor((i - 1) / t.chunkBlocks);
    const packet = chunk(t, c).packets[i - 1 - c * t.chunkBlocks]!;
    const rc = libc.send(t.sock, packet, packet.length, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (rc < 0) {
      const e = libc.errno();
      if (e === EAGAIN || e === EINTR) return;
      end(t, 'socket-error', { code: 0, message: `send failed, errno ${e}` });
      return;
    }
    q.next++;
  }
  t.queue = null;
}

function apply(t: T, step: Step): void {
  switch (step.kind) {
    case 'oack':
      libc.send(t.sock, t.oack!, t.oack!.length, MSG_DONTWAIT | MSG_NOSIGNAL);
      return;
    case 'data':
      // replaces an unfinished older window; the one window object is reused (no garbage per block)
      t.window.next = step.from;
      t.window.to = step.to;
      t.queue = t.window;
      flush(t);
      return;
    case 'done':
      end(t, 'completed');
      return;
    default:
      return;
  }
}

function onDatagram(t: T, n: number, now: number): void {
  if (n >= 4 && rbuf[0] === 0 && rbuf[1] === 4) {
    const r = onAck(t.s, rbuf.readUInt16BE(2));
    t.s = r.state;
    if (r.ack === 'progress') t.retransmitAt = now + t.timeoutMs;
    apply(t, r.step);
    return;
  }
  if (n >= 4 && rbuf[0] === 0 && rbuf[1] === 5) {
    const z = rbuf.indexOf(0, 4);
    end(t, 'client-error', { code: rbuf.readUInt16BE(2), message: rbuf.toString('latin1', 4, z < 0 || z > n ? n : z) });
    return;
  }
  t.dropped++;
}

/**
 * One datagram per readiness: in lock-step there is only ever one, and trying for a second would
 * cost a failing recv(2) per block; anything left makes the next poll(2) return at once.
 */
function receive(t: T, now: number): void {
  received(t, libc.recv(t.sock, rbuf, rbuf.length, MSG_DONTWAIT), now);
}

function received(t: T, n: number, now: number): void {
  if (n < 0) {
    const e = libc.errno();
    if (e !== EAGAIN && e !== EINTR) end(t, 'socket-error', { code: 0, message: `recv failed, errno ${e}` }); // e.g. ICMP port unreachable: the client is gone
    return;
  }
  // Following the client's CPU is for waiting asleep: a thread polling on the client's CPU keeps the client off it.
  if (t.followCpu && transfers.size === 1 && t.wait?.mode !== 'awake' && t.received++ % FOLLOW_EVERY === 0) cpu.follow(t.sock);
  onDatagram(t, n, now);
}

/**
 * Polls the socket for up to spinMs: the datagram's bytes, or -1 when none came (the chooser is
 * told) or the call failed (errno left for the caller).
 */
function spin(t: T, wait: WaitChooser): number {
  const until = performance.now() + t.spinMs;
  t.spins++;
  let n: number;
  do {
    n = libc.recv(t.sock, rbuf, rbuf.length, MSG_DONTWAIT);
    if (n >= 0) {
      t.spinHits++;
      return n;
    }
    if (libc.errno() !== EAGAIN) return n;
  } while (performance.now() < until);
  wait.missed();
  return -1;
}

/**
 * The only transfer, its window sent: the next blocks are read, then the thread waits for the ACK,
 * awake or asleep as the chooser says (wait-mode.ts); asleep, and after an awake wait that found
 * nothing, in one blocking recv(2) (SO_RCVTIMEO bounds it, so timers and the thread's messages
 * still get their turn).
 */
function solo(t: T): void {
  // try/catch inline rather than guard(): no closures allocated per block (this runs once per block).
  try {
    prefetch(t);
    if (t.ended) return;
    const wait = t.wait;
    const awake = wait?.mode === 'awake';
    if (awake) cpu.release(); // pinned while asleep: polling on the client's CPU would keep the client off it (no-op when not pinned)
    let n = awake ? spin(t, wait) : -1;
    const caught = n >= 0;
    // After an awake wait that found nothing (EAGAIN), asleep; a failed call (the client is gone:
    // ICMP port unreachable, reported once) goes to received() with its errno instead.
    if (n < 0 && (!awake || libc.errno() === EAGAIN)) n = libc.recv(t.sock, rbuf, rbuf.length, 0);
    const now = performance.now();
    if (n >= 0) wait?.ack(now, caught);
    received(t, n, now);
    if (!t.ended) timers(t, now);
  } catch (e) {
    fail(t, 'read-error', TftpErrorCode.NotDefined, 'read error');
    void e;
  }
}

function timers(t: T, now: number): void {
  if (now >= t.deadlineAt) return fail(t, 'deadline', TftpErrorCode.NotDefined, 'transfer deadline exceeded');
  if (now < t.retransmitAt) return;
  const r = onTimeout(t.s, t.retries);
  t.s = r.state;
  if (r.step.kind === 'giveup') return fail(t, 'timeout', TftpErrorCode.NotDefined, 'timed out waiting for ACK');
  const count = r.step.kind === 'data' ? r.step.to - r.step.from + 1 : 1;
  t.retransmits += count;
  post({ type: 'retransmit', id: t.id, count });
  t.retransmitAt = now + t.timeoutMs;
  apply(t, r.step);
}

/** A failing read (or any bug) ends that one transfer, never the loop. */
function guard(t: T, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    fail(t, 'read-error', TftpErrorCode.NotDefined, 'read error');
    void e;
  }
}

function loop(): void {
  const sliceEnd = performance.now() + SLICE_MS;
  while (transfers.size > 0) {
    if (listDirty) {
      list = [...transfers.values()];
      listDirty = false;
      if (list.length > 1) cpu.release();
    }
    if (list.length === 1 && !list[0]!.queue) {
      solo(list[0]!);
      if (performance.now() >= sliceEnd) {
        setImmediate(loop);
        return;
      }
      continue;
    }
    if (pfds.length < list.length * 8) pfds = Buffer.alloc(list.length * 16);
    let next = Infinity;
    list.forEach((t, i) => {
      pfds.writeInt32LE(t.sock, i * 8);
      pfds.writeInt16LE(POLLIN | (t.queue ? POLLOUT : 0), i * 8 + 4);
      pfds.writeInt16LE(0, i * 8 + 6);
      next = Math.min(next, t.retransmitAt, t.deadlineAt);
    });
    const before = performance.now();
    const wait = Math.max(0, Math.min(Math.ceil(next - before), Math.ceil(sliceEnd - before)));
    const n = libc.poll(pfds, list.length, wait);
    const now = performance.now();
    list.forEach((t, i) => {
      const rev = n > 0 ? pfds.readInt16LE(i * 8 + 6) : 0;
      if (t.ended) return;
      guard(t, () => {
        if (rev & (POLLIN | POLLERR)) receive(t, now);
        if (rev & POLLOUT && !t.ended) flush(t);
        if (!t.ended) timers(t, now);
        if (!t.ended && !t.queue) prefetch(t);
      });
    });
    if (now >= sliceEnd) {
      setImmediate(loop);
      return;
    }
  }
  running = false;
  cpu.release();
}

function start(m: FastStart): void {
  const now = performance.now();
  const b = begin(m.size, m.blksize, m.windowsize, m.oack !== null);
  const t: T = {
    id: m.id,
    sock: m.sock,
    fileFd: m.fileFd,
    size: m.size,
    s: b.state,
    oack: m.oack ? Buffer.from(m.oack) : null,
    timeoutMs: m.timeoutMs,
    retries: m.retries,
    retransmitAt: now + m.timeoutMs,
    deadlineAt: now + m.deadlineMs,
    chunkBlocks: chunkBlocksFor(m.blksize, m.windowsize),
    chunks: new Map(),
    spare: [],
    queue: null,
    window: { next: 0, to: 0 },
    followCpu: m.followCpu,
    spinMs: m.spinUs / 1000,
    wait: m.spinUs > 0 ? new WaitChooser() : null,
    spins: 0,
    spinHits: 0,
    received: 0,
    retransmits: 0,
    dropped: 0,
    ended: false,
  };
  // The blocking recv of a single transfer wakes up at least this often (timers, messages).
  const tv = Buffer.alloc(16);
  tv.writeBigInt64LE(BigInt(Math.round(Math.min(SLICE_MS, m.timeoutMs / 10) * 1000)), 8);
  if (libc.setsockopt(t.sock, SOL_SOCKET, SO_RCVTIMEO, tv, 16) !== 0) {
    fail(t, 'socket-error', TftpErrorCode.NotDefined, 'socket setup failed');
    return;
  }
  transfers.set(t.id, t);
  listDirty = true;
  guard(t, () => apply(t, b.step));
}

parentPort!.on('message', (m: FastStart | FastAbort | FastCancel) => {
  if (m.type === 'start') start(m);
  else if (m.type === 'cancel') {
    const t = transfers.get(m.id);
    if (t) end(t, 'superseded');
  } else for (const t of [...transfers.values()]) fail(t, 'shutdown', TftpErrorCode.NotDefined, m.message);
  if (!running && transfers.size > 0) {
    running = true;
    setImmediate(loop);
  }
});
