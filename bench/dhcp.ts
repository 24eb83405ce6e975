// `npm run bench:dhcp`: DORA throughput of our DHCP server against dnsmasq, measured with Kea's
// perfdhcp in the same network namespaces, on the same machine, in the same run; then the seed's
// RSS with 10,000 leases loaded. Needs root (namespaces), /usr/sbin/perfdhcp (kea-admin),
// /usr/sbin/dnsmasq, /usr/bin/etcd. Addresses: 10.213.0.0/20 only.
//
// Options (environment): LPMOS_BENCH_SECONDS (default 10), LPMOS_BENCH_RATE offered exchanges/s
// (default 1000), LPMOS_BENCH_CLIENTS distinct MACs (default 3000).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, inNetns } from '../test/helpers/netns.ts';
import { TestEtcd } from '../test/helpers/etcd.ts';
import { EtcdStore } from '../store/etcd.ts';
import { Keys } from '../core/keys.ts';
import { silentLogger } from '../core/log.ts';
import { DhcpServer } from '../seed/dhcp/server.ts';
import { dhcpConfigSchema } from '../seed/dhcp/config.ts';
import { openDeviceFd, wrapFd } from '../seed/dhcp/udp-device.ts';
import { intToIp, ipToInt } from '../seed/dhcp/options.ts';
import type { Lease, AddressClaim } from '../core/model/lease.ts';
import type { Operation } from '../core/store/store.ts';

const SECONDS = Number(process.env.LPMOS_BENCH_SECONDS ?? 10);
const RATE = Number(process.env.LPMOS_BENCH_RATE ?? 1000);
const CLIENTS = Number(process.env.LPMOS_BENCH_CLIENTS ?? 3000);
const RANGE = ['10.213.0.10', '10.213.15.250'] as const;

interface PerfResult { rate: number; discoverDrops: string; requestDrops: string; raw: string }

async function perfdhcp(lab: Lab, ns: string): Promise<PerfResult> {
  const r = await lab.run(ns, ['perfdhcp', '-4', '-l', 'c0', '-r', String(RATE), '-R', String(CLIENTS), '-p', String(SECONDS), '-s', '42', '10.213.0.1'], (SECONDS + 30) * 1000);
  const raw = r.stdout + r.stderr;
  const rate = /Rate:\s*([\d.]+)\s*4-way exchanges\/second/.exec(raw);
  if (!rate) throw new Error(`perfdhcp printed no rate (exit ${r.code}):\n${raw}`);
  const drops = [...raw.matchAll(/drops ratio:\s*([\d.]+\s*%)/g)].map((m) => m[1]!);
  return { rate: Number(rate[1]), discoverDrops: drops[0] ?? '?', requestDrops: drops[1] ?? '?', raw };
}

async function writeLeases(store: EtcdStore, keys: Keys, n: number): Promise<void> {
  const now = Date.now();
  const start = ipToInt('10.213.0.10');
  const expiresAt = new Date(now + 3_600_000).toISOString();
  for (let i = 0; i < n; i += 50) {
    const ops: Operation[] = [];
    for (let j = i; j < Math.min(n, i + 50); j++) {
      const mac = `02:42:${[j >> 16, (j >> 8) & 255, j & 255, 7].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
      const ip = intToIp(start + j);
      const lease: Lease = { kind: 'Lease', mac, ip, state: 'bound', expiresAt, updatedAt: new Date(now).toISOString(), subnet: '10.213.0.0/18', server: '10.213.0.1', hostname: `node-${j}` };
      const claim: AddressClaim = { kind: 'LeaseAddress', ip, mac, state: 'bound', expiresAt };
      ops.push({ type: 'put', key: keys.lease(mac), value: JSON.stringify(lease) }, { type: 'put', key: keys.leaseAddress(ip), value: JSON.stringify(claim) });
    }
    await store.txn([], ops);
  }
}

async function main(): Promise<void> {
  const lab = new Lab('dhcp');
  const tmp = mkdtempSync(join(tmpdir(), `lpm-dhcp-bench-${process.pid}-`));
  let etcd: TestEtcd | undefined;
  let store: EtcdStore | undefined;
  let server: DhcpServer | undefined;
  const stopAll = async (): Promise<void> => {
    await server?.stop();
    await lab.cleanup();
    await store?.close();
    await etcd?.stop();
    rmSync(tmp, { recursive: true, force: true });
  };
  process.once('SIGINT', () => { void stopAll().then(() => process.exit(130)); });
  try {
    const seedNs = lab.netns('bseed');
    const cliNs = lab.netns('bcli');
    lab.veth({ ns: seedNs, name: 'p0', address: '10.213.0.1/20' }, { ns: cliNs, name: 'c0', address: '10.213.0.2/20' });
    console.log(`perfdhcp DORA, ${SECONDS} s each, offered ${RATE}/s, ${CLIENTS} clients, range ${RANGE.join('-')}; perfdhcp acts as a relay (giaddr 10.213.0.2)`);

    // dnsmasq: --no-ping (its ping check blocks each new address ~3 s), its usual lease file.
    const dnsmasq = lab.spawn(seedNs, ['dnsmasq', '-k', '--conf-file=/dev/null', '--port=0', '--interface=p0', '--bind-interfaces',
      `--dhcp-range=${RANGE[0]},${RANGE[1]},255.255.240.0,3600`, '--no-ping', '--dhcp-authoritative', '--quiet-dhcp',
      `--dhcp-lease-max=${CLIENTS * 2}`, `--dhcp-leasefile=${join(tmp, 'dnsmasq.leases')}`, `--pid-file=${join(tmp, 'dnsmasq.pid')}`]);
    await new Promise((r) => setTimeout(r, 500));
    const ref = await perfdhcp(lab, cliNs);
    await dnsmasq.stop();
    console.log(`dnsmasq:    ${ref.rate.toFixed(1)} DORA/s (drops: DISCOVER-OFFER ${ref.discoverDrops}, REQUEST-ACK ${ref.requestDrops})`);

    // Ours: leases in a real etcd, as in the seed.
    etcd = await TestEtcd.start();
    store = new EtcdStore({ endpoints: etcd.endpoints });
    const config = dhcpConfigSchema.parse({ dhcp: 'full', interface: 'p0', address: '10.213.0.1', dhcpRange: [`${RANGE[0]}-${RANGE[1]}/20`], dhcpLeaseTime: 3600 });
    server = new DhcpServer(config, {
      store, keys: new Keys('/lpmos/', 'bench'), logger: silentLogger(),
      openSocket: (port) => wrapFd(inNetns(seedNs, () => openDeviceFd({ iface: 'p0', port }))),
    });
    await server.start();
    const ours = await perfdhcp(lab, cliNs);
    console.log(`lpmos seed: ${ours.rate.toFixed(1)} DORA/s (drops: DISCOVER-OFFER ${ours.discoverDrops}, REQUEST-ACK ${ours.requestDrops}); counters ${JSON.stringify(server.counters)}`);
    await server.stop();
    server = undefined;
    console.log(`ratio lpmos/dnsmasq: ${(ours.rate / ref.rate).toFixed(2)} (goal >= 1.0)`);

    // RSS: 10,000 leases written as the server writes them (lease + address claim per MAC), then a
    // fresh process loads them and serves (no traffic is sent). The records span a /18: data only,
    // since 10,000 addresses do not fit the lab's /20 and nothing is addressed on the wire.
    await writeLeases(store, new Keys('/lpmos/', 'rss'), 10_000);
    const child = join(dirname(fileURLToPath(import.meta.url)), 'dhcp-rss.ts');
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, ['--expose-gc', child, etcd!.endpoints[0]!, seedNs], { stdio: ['ignore', 'pipe', 'inherit'] });
      let s = '';
      p.stdout.on('data', (d: Buffer) => { s += d.toString(); });
      p.once('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`dhcp-rss exited ${code}: ${s}`))));
    });
    const rss = JSON.parse(out) as { leases: number; rssBaseMiB: number; rssMiB: number; heapMiB: number };
    console.log(`seed RSS with ${rss.leases} leases loaded: ${rss.rssMiB.toFixed(1)} MiB (process before starting DHCP: ${rss.rssBaseMiB.toFixed(1)} MiB; JS heap used ${rss.heapMiB.toFixed(1)} MiB)`);
  } finally {
    await stopAll();
  }
}

await main();
