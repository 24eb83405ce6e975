// MTU of the interface a transfer leaves through, to clamp blksize (RFC 2348) so DATA packets are
// not IP-fragmented: a lost fragment loses the whole block. The local address of a connected
// per-transfer socket is the one the kernel's route picked, so its interface is the first hop.
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

const cache = new Map<string, { mtu: number | undefined; at: number }>();
const TTL_MS = 30_000;

/** MTU of the interface holding `address`, or undefined when it cannot be found. */
export function mtuOfAddress(address: string): number | undefined {
  const now = Date.now();
  const hit = cache.get(address);
  if (hit && now - hit.at < TTL_MS) return hit.mtu;
  let mtu: number | undefined;
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (!addrs?.some((a) => a.address === address)) continue;
    try {
      const v = Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
      if (Number.isInteger(v) && v > 0) mtu = v;
    } catch {
      // not Linux or interface gone: no clamp from the MTU
    }
    break;
  }
  cache.set(address, { mtu, at: now });
  return mtu;
}
