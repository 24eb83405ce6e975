// UDP sockets bound to one network interface (SO_BINDTODEVICE, socket(7)). Node's dgram cannot
// bind to a device, and a DHCP server bound to 0.0.0.0:67 would hear (and answer) every interface,
// with replies routed by the default route. So the socket is made here through libc (koffi, an FFI
// module with prebuilt binaries): socket(), SO_BINDTODEVICE, SO_REUSEADDR, SO_BROADCAST, bind() —
// the device is set before bind, so not one packet of another interface is ever received — and the
// finished descriptor is handed to dgram (`bind({ fd })`), which runs it on the event loop.
import dgram from 'node:dgram';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { AF_INET, IFNAMSIZ, SOCK_CLOEXEC, SOCK_DGRAM, SOL_SOCKET, SO_BINDTODEVICE, SO_BROADCAST, SO_REUSEADDR, loadLibc, sockaddrIn } from '../net/libc.ts';

function fail(what: string, iface: string, port: number): never {
  const errno = loadLibc().errno();
  const hint = errno === 1 ? ' (needs root or CAP_NET_RAW)' : errno === 19 ? ' (no such interface)' : errno === 98 ? ' (address in use)' : '';
  throw new LpmosError(ErrorCode.Unavailable, `cannot open UDP port ${port} on interface ${iface}: ${what} failed, errno ${errno}${hint}`);
}

export interface DeviceSocketOptions {
  /** Interface name, e.g. `eth1` (at most 15 characters); required for DHCP, optional for tests. */
  iface?: string;
  port: number;
  /** Local address to bind; default 0.0.0.0 (needed to receive broadcasts). */
  address?: string;
}

/**
 * Creates the bound descriptor synchronously (so a caller may create it inside another network
 * namespace, see test/helpers/netns.ts). The caller owns it until wrapFd().
 */
export function openDeviceFd(opts: DeviceSocketOptions): number {
  const { iface, port } = opts;
  const where = iface ?? 'any interface';
  if (iface !== undefined && (!iface || Buffer.byteLength(iface) >= IFNAMSIZ)) throw new LpmosError(ErrorCode.Usage, `bad interface name "${iface}"`);
  const c = loadLibc();
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail('socket()', where, port);
  try {
    const one = Buffer.alloc(4);
    one.writeInt32LE(1);
    if (c.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4) !== 0) fail('SO_REUSEADDR', where, port);
    if (c.setsockopt(fd, SOL_SOCKET, SO_BROADCAST, one, 4) !== 0) fail('SO_BROADCAST', where, port);
    if (iface !== undefined) {
      const name = Buffer.alloc(IFNAMSIZ);
      name.write(iface, 'latin1');
      if (c.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, IFNAMSIZ) !== 0) fail(`SO_BINDTODEVICE ${iface}`, where, port);
    }
    if (c.bind(fd, sockaddrIn(opts.address ?? '0.0.0.0', port), 16) !== 0) fail('bind()', where, port);
  } catch (e) {
    c.close(fd);
    throw e;
  }
  return fd;
}

/** Hands a bound UDP descriptor to dgram; the socket then owns (and closes) it. */
export async function wrapFd(fd: number): Promise<dgram.Socket> {
  const sock = dgram.createSocket({ type: 'udp4' });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ fd }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  return sock;
}

/** Opens a UDP socket bound to `iface` and `address:port`, ready for send/receive, broadcast allowed. */
export async function openDeviceSocket(opts: DeviceSocketOptions & { iface: string }): Promise<dgram.Socket> {
  return wrapFd(openDeviceFd(opts));
}
