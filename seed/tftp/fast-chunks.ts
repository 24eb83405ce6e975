// The TFTP fast path's file side: a transfer's blocks as ready DATA packets, read with pread(2) a
// chunk at a time (256 KiB, or one window of big blocks) into buffers that are reused once the window
// has moved past them. Synchronous: the worker thread (fast-worker.ts) does nothing else meanwhile.
import { pread } from './libc.ts';
import { wireBlock, type TransferState } from './transfer.ts';

const CHUNK_BYTES = 256 * 1024;

/** Consecutive DATA packets in one buffer, with a view of each (made once, not per send). */
export interface Chunk {
  buf: Buffer;
  packets: Buffer[];
}

/** What chunk() needs of a transfer. */
export interface ChunkSource {
  fileFd: number;
  size: number;
  s: TransferState;
  chunkBlocks: number;
  chunks: Map<number, Chunk>;
  /** Evicted chunks kept for reuse. */
  spare: Chunk[];
}

/** From this block size on, each block is read into its packet slot directly. */
const BIG_BLOCK = 8192;

function header(buf: Buffer, slot: number, index: number): void {
  const wire = wireBlock(index);
  buf[slot] = 0;
  buf[slot + 1] = 3;
  buf[slot + 2] = wire >> 8;
  buf[slot + 3] = wire & 0xff;
}

/** Reads `len` bytes at `pos` into buf[off…]; a file that shrank under us leaves zeros, never old memory. */
function fill(fd: number, buf: Buffer, off: number, len: number, pos: number): void {
  let got = 0;
  while (got < len) {
    const n = pread(fd, buf.subarray(off + got, off + len), pos + got);
    if (n === 0) break;
    got += n;
  }
  if (got < len) buf.fill(0, off + got, off + len);
}

/** Scratch space for small-block chunk reads (one per thread, grown when needed). */
let scratch = Buffer.alloc(0);

/** Chunk c as ready DATA packets (slots of blksize + 4 bytes), read synchronously: this thread does nothing else. */
export function chunk(t: ChunkSource, c: number): Chunk {
  const have = t.chunks.get(c);
  if (have) return have;
  const { blksize, totalBlocks } = t.s;
  const first = Math.floor(t.s.acked / t.chunkBlocks); // nothing before the window start is ever resent
  for (const [k, old] of t.chunks) {
    if (k >= first) continue;
    t.chunks.delete(k);
    if (t.spare.length < 2) t.spare.push(old); // reused: a fresh big buffer costs page faults
  }
  const blocks = Math.min(t.chunkBlocks, totalBlocks - c * t.chunkBlocks);
  const start = c * t.chunkBlocks * blksize;
  const bytes = blocks * (blksize + 4);
  const spare = t.spare.findIndex((b) => b.buf.length === bytes);
  const reused = spare >= 0 ? t.spare.splice(spare, 1)[0]! : undefined;
  const buf = reused?.buf ?? Buffer.allocUnsafe(bytes);
  if (blksize >= BIG_BLOCK) {
    // Big blocks: read each straight into its packet slot (one copy less than read-then-copy).
    for (let j = 0; j < blocks; j++) {
      const slot = j * (blksize + 4);
      header(buf, slot, c * t.chunkBlocks + j + 1);
      const pos = start + j * blksize;
      fill(t.fileFd, buf, slot + 4, Math.max(0, Math.min(blksize, t.size - pos)), pos);
    }
  } else {
    // Small blocks: one read for the chunk, then laid out behind the 4-byte headers.
    const dataLength = Math.max(0, Math.min(blocks * blksize, t.size - start));
    if (scratch.length < dataLength) scratch = Buffer.allocUnsafe(dataLength);
    const data = scratch.subarray(0, dataLength);
    fill(t.fileFd, data, 0, data.length, start);
    for (let j = 0; j < blocks; j++) {
      const slot = j * (blksize + 4);
      header(buf, slot, c * t.chunkBlocks + j + 1);
      data.copy(buf, slot + 4, j * blksize, Math.min((j + 1) * blksize, data.length));
    }
  }
  const lastIn = c * t.chunkBlocks + blocks;
  const lastLength = 4 + (lastIn === totalBlocks ? t.size - (totalBlocks - 1) * blksize : blksize);
  // The views of a reused buffer fit as long as its packets have the same lengths.
  if (reused?.packets.length === blocks && reused.packets[blocks - 1]!.length === lastLength) {
    t.chunks.set(c, reused);
    return reused;
  }
  const packets: Buffer[] = [];
  for (let j = 0; j < blocks; j++) {
    const slot = j * (blksize + 4);
    const i = c * t.chunkBlocks + j + 1;
    packets.push(buf.subarray(slot, slot + 4 + (i === totalBlocks ? t.size - (totalBlocks - 1) * blksize : blksize)));
  }
  const made = { buf, packets };
  t.chunks.set(c, made);
  return made;
}

/** Blocks per chunk. Big blocks: one window per chunk, so the buffers in use stay few and warm in the cache. */
export function chunkBlocksFor(blksize: number, windowsize: number): number {
  return blksize >= BIG_BLOCK ? windowsize : Math.max(windowsize, Math.ceil(CHUNK_BYTES / blksize));
}
