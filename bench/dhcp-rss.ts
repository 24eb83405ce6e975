// Child of bench/dhcp.ts: a fresh process starts a DHCP server (sockets in namespace argv[3]) that
// loads the 10,000 leases bench/dhcp.ts wrote to the etcd at argv[2], and prints its RSS as JSON.
// No packet is sent.
import { EtcdStore } from '../store/etcd.ts';
import { Keys } from '../core/keys.ts';
import { silentLogger } from '../core/log.ts';
import { DhcpServer } from '../seed/dhcp/server.ts';
import { dhcpConfigSchema } from '../seed/dhcp/config.ts';
import { openDeviceFd, wrapFd } from '../seed/dhcp/udp-device.ts';
import { inNetns } from '../test/helpers/netns.ts';

const [endpoint, ns] = process.argv.slice(2);
if (!endpoint || !ns) throw new Error('usage: dhcp-rss.ts ETCD_ENDPOINT NETNS');
const keys = new Keys('/lpmos/', 'rss');
const store = new EtcdStore({ endpoints: [endpoint] });
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const rssBase = process.memoryUsage().rss;
const config = dhcpConfigSchema.parse({ dhcp: 'full', interface: 'p0', address: '10.213.0.1', dhcpRange: ['10.213.0.10-10.213.63.250/18'], dhcpLeaseTime: 3600 });
const server = new DhcpServer(config, {
  store, keys, logger: silentLogger(),
  openSocket: (port) => wrapFd(inNetns(ns, () => openDeviceFd({ iface: 'p0', port }))),
});
await server.start();
const leases = server.leases.table.leases.size;
gc?.();
await new Promise((r) => setTimeout(r, 200));
gc?.();
const mem = process.memoryUsage();
await server.stop();
await store.close();
process.stdout.write(JSON.stringify({ leases, rssBaseMiB: rssBase / 2 ** 20, rssMiB: mem.rss / 2 ** 20, heapMiB: mem.heapUsed / 2 ** 20 }));
