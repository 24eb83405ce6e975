// The libc socket calls the seed makes directly through koffi (FFI): the DHCP server needs
// SO_BINDTODEVICE, which Node's dgram cannot set, and the TFTP fast path skips dgram's ~10 µs of
// JavaScript and libuv work per datagram. Linux constants (asm-generic; same on x86-64 and arm64).
import koffi from 'koffi';

export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const EAGAIN = 11;
export const EINTR = 4;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_BROADCAST = 6;
export const SO_BINDTODEVICE = 25;
export const IFNAMSIZ = 16;

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  connect(fd: number, addr: Buffer, len: number): number;
  getsockname(fd: number, addr: Buffer, len: Int32Array): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  /** fds: `struct pollfd[]` (8 bytes each: int fd, short events, short revents). */
  poll(fds: Buffer, nfds: number, timeoutMs: number): number;
  close(fd: number): number;
  errno(): number;
}

let libc: Libc | undefined;

/** Loads libc once per thread (koffi handles are per isolate). */
export function loadLibc(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    socket: lib.func('int socket(int, int, int)') as Libc['socket'],
    bind: lib.func('int bind(int, const uint8_t *, uint32_t)') as Libc['bind'],
    setsockopt: lib.func('int setsockopt(int, int, int, const uint8_t *, uint32_t)') as Libc['setsockopt'],
    connect: lib.func('int connect(int, const uint8_t *, uint32_t)') as Libc['connect'],
    getsockname: lib.func('int getsockname(int, uint8_t *, _Inout_ int32_t *)') as Libc['getsockname'],
    send: lib.func('long send(int, const uint8_t *, size_t, int)') as Libc['send'],
    recv: lib.func('long recv(int, uint8_t *, size_t, int)') as Libc['recv'],
    poll: lib.func('int poll(uint8_t *, unsigned long, int)') as Libc['poll'],
    close: lib.func('int close(int)') as Libc['close'],
    errno: () => koffi.errno(),
  };
  return libc;
}

/** `struct sockaddr_in` (16 bytes): family (host order), port and address (network order). */
export function sockaddrIn(address: string, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new TypeError(`not an IPv4 address: ${address}`);
  parts.forEach((p, i) => b.writeUInt8(p, 4 + i));
  return b;
}

export function parseSockaddrIn(b: Buffer): { address: string; port: number } {
  return { address: `${b[4]}.${b[5]}.${b[6]}.${b[7]}`, port: b.readUInt16BE(2) };
}
