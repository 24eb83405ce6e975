// TFTP's transfer sockets on the shared libc bindings (seed/net/libc.ts), and the fast path's file reads.
import koffi from 'koffi';
import { AF_INET, SOCK_CLOEXEC, SOCK_DGRAM, loadLibc, parseSockaddrIn, sockaddrIn } from '../net/libc.ts';

export * from '../net/libc.ts';

/** `struct timeval` receive timeout (Linux, 64-bit time_t). */
export const SO_RCVTIMEO = 20;

/**
 * A blocking UDP socket (the worker passes MSG_DONTWAIT except where it means to wait) bound to `local` (port 0: a fresh transfer ID, RFC 1350 §4) and
 * connected to the client, so the kernel drops datagrams from any other TID. Returns the fd and
 * the local address the route picked.
 */
export function openTransferSocket(local: string, client: { address: string; port: number }): { fd: number; local: string } {
  const c = loadLibc();
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket() failed, errno ${c.errno()}`);
  const fail = (what: string): never => {
    const e = c.errno();
    c.close(fd);
    throw new Error(`${what} failed, errno ${e}`);
  };
  if (c.bind(fd, sockaddrIn(local, 0), 16) !== 0) fail(`bind(${local}:0)`);
  if (c.connect(fd, sockaddrIn(client.address, client.port), 16) !== 0) fail(`connect(${client.address}:${client.port})`);
  const name = Buffer.alloc(16);
  const len = new Int32Array([16]);
  if (c.getsockname(fd, name, len) !== 0) fail('getsockname()');
  return { fd, local: parseSockaddrIn(name).address };
}

type Pread = (fd: number, buf: Uint8Array, len: number, pos: number) => number;
let preadFn: Pread | undefined;

/**
 * pread(2) straight through koffi (the fast path reads the file on its own thread; fs.readSync's
 * argument checks cost more than the read itself for a 64 KiB block). Throws on failure.
 */
export function pread(fd: number, buf: Uint8Array, pos: number): number {
  preadFn ??= koffi.load('libc.so.6').func('long pread(int, uint8_t *, size_t, int64_t)') as Pread;
  const n = preadFn(fd, buf, buf.length, pos);
  if (n < 0) throw new Error(`pread failed, errno ${koffi.errno()}`);
  return n;
}
