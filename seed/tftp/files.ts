// What a transfer reads from: a file under the static root (opened so that symlinks cannot lead
// out of it) or a buffer rendered in memory (dynamic files, netascii conversions).
import { constants } from 'node:fs';
import { open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { TftpErrorCode } from './packet.ts';

export interface FileSource {
  readonly size: number;
  /** Descriptor of an open file, for the fast path's synchronous reads; absent for in-memory files. */
  readonly fd?: number;
  /** Bytes [start, end) of the file; the result may be a view of a shared buffer (do not modify). */
  read(start: number, end: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** Files made on request (per-machine boot menus), consulted before the static root. */
export interface DynamicFiles {
  /** The file's bytes, or undefined when this provider does not make `path` (then the static root is tried). */
  resolve(path: string, client: { address: string }, signal: AbortSignal): Promise<Buffer | undefined>;
}

export type OpenResult = { ok: true; source: FileSource } | { ok: false; code: TftpErrorCode; reason: string };

export function memorySource(data: Buffer): FileSource {
  return {
    size: data.length,
    read: (start, end) => Promise.resolve(data.subarray(start, end)),
    close: () => Promise.resolve(),
  };
}

class FileHandleSource implements FileSource {
  readonly size: number;
  readonly fd: number;
  readonly #fh: FileHandle;
  constructor(fh: FileHandle, size: number) {
    this.#fh = fh;
    this.fd = fh.fd;
    this.size = size;
  }
  async read(start: number, end: number): Promise<Buffer> {
    const len = Math.max(0, Math.min(end, this.size) - start);
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await this.#fh.read(buf, got, len - got, start + got);
      if (bytesRead === 0) break; // the file shrank under us: send what there is
      got += bytesRead;
    }
    return got === len ? buf : buf.subarray(0, got);
  }
  close(): Promise<void> {
    return this.#fh.close();
  }
}

/** The canonical path of the root, resolved once at start so the confinement check compares real paths. */
export function resolveRoot(root: string): Promise<string> {
  return realpath(root);
}

function errnoResult(e: unknown): OpenResult {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return { ok: false, code: TftpErrorCode.FileNotFound, reason: 'no such file' };
  if (code === 'EACCES' || code === 'EPERM' || code === 'ELOOP') return { ok: false, code: TftpErrorCode.AccessViolation, reason: `cannot open (${code})` };
  return { ok: false, code: TftpErrorCode.NotDefined, reason: `cannot open (${code ?? String(e)})` };
}

/**
 * Opens `rel` (already checked by checkPath) under the real root. The check that the file is
 * inside the root is made on the descriptor actually opened (/proc/self/fd), so a symlink, or a
 * directory swapped for one between check and open, cannot lead outside it.
 */
export async function openUnderRoot(realRoot: string, rel: string): Promise<OpenResult> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not hang the transfer; non-regular files are refused below.
    fh = await open(join(realRoot, rel), constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return errnoResult(e);
  }
  try {
    const target = await readlink(`/proc/self/fd/${fh.fd}`);
    if (!target.startsWith(realRoot.endsWith('/') ? realRoot : `${realRoot}/`)) {
      await fh.close();
      return { ok: false, code: TftpErrorCode.AccessViolation, reason: 'resolves outside the TFTP root' };
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      return { ok: false, code: TftpErrorCode.FileNotFound, reason: 'not a regular file' };
    }
    return { ok: true, source: new FileHandleSource(fh, st.size) };
  } catch (e) {
    await fh.close().catch(() => undefined);
    return errnoResult(e);
  }
}

/** Largest file converted to netascii in memory; boot loaders use octet, netascii is for people. */
export const NETASCII_MAX = 16 * 1024 * 1024;

/** RFC 1350 / RFC 764: netascii sends LF as CR LF and a bare CR as CR NUL. */
export function toNetascii(data: Buffer): Buffer {
  let extra = 0;
  for (const b of data) if (b === 0x0a || b === 0x0d) extra++;
  if (extra === 0) return data;
  const out = Buffer.allocUnsafe(data.length + extra);
  let o = 0;
  for (const b of data) {
    if (b === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else if (b === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x00;
    } else out[o++] = b;
  }
  return out;
}
