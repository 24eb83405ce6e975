// The benchmark's network: a bridge in its own namespace, the seed and every agent in theirs, one
// veth pair each, every link shaped with tc htb on both ends (egress of the namespace side caps
// the upload, egress of the bridge side the download). Addresses from 10.213.128.0/17 only.
// Everything is created through a Lab, whose cleanup() deletes it all. Every namespace knows every
// other's MAC as a permanent neighbour: the kernel's ARP table is one for all namespaces, and its
// dynamic entries are capped (net.ipv4.neigh.default.gc_thresh3, 1024 here) — at N = 64, 65 × 64
// entries overflowed it ("neighbor table overflow!"), SYNs to agents without an entry went
// unanswered and the swarm took 459 s with 1 % of its links used; permanent entries are not
// counted against the cap (Linux ≥ 5.0) and are removed with their namespace.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../../test/helpers/netns.ts';

export const PREFIX = 17;
export const SEED_IP = '10.213.128.1';

/** Agent i (1-based) at 10.213.129.0 + i, upwards: room for 32 000 agents inside the /17. */
export function agentIp(i: number): string {
  const n = 256 + i;
  return `10.213.${128 + Math.floor(n / 256)}.${n % 256}`;
}

export interface BenchNet {
  bridgeNs: string;
  seedNs: string;
  agentNs: string[];
  mbit: number;
}

/** htb root with one class at `mbit`; replaces whatever qdisc the link had. */
export function shape(lab: Lab, ns: string, dev: string, mbit: number): void {
  lab.exec(ns, ['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '1']);
  lab.exec(ns, ['tc', 'class', 'replace', 'dev', dev, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', `${mbit}mbit`, 'ceil', `${mbit}mbit`]);
}

/** The neighbours every namespace gets: each other's (ip, mac), as `ip -batch` lines. Pure. */
export function neighbourBatch(hosts: { ip: string; mac: string }[], self: string): string {
  return hosts.filter((h) => h.ip !== self).map((h) => `neigh replace ${h.ip} lladdr ${h.mac} dev eth0 nud permanent\n`).join('');
}

/** `dir`: where the batch files are written (removed by the caller). */
export function createNet(lab: Lab, agents: number, mbit: number, dir: string): BenchNet {
  const bridgeNs = lab.netns('br');
  lab.exec(bridgeNs, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  lab.exec(bridgeNs, ['ip', 'link', 'set', 'br0', 'up']);
  const attach = (ns: string, ip: string, port: string): void => {
    lab.veth({ ns, name: 'eth0', address: `${ip}/${PREFIX}` }, { ns: bridgeNs, name: port });
    lab.exec(bridgeNs, ['ip', 'link', 'set', port, 'master', 'br0']);
    shape(lab, ns, 'eth0', mbit);
    shape(lab, bridgeNs, port, mbit);
  };
  const seedNs = lab.netns('seed');
  attach(seedNs, SEED_IP, 's0');
  const agentNs: string[] = [];
  for (let i = 1; i <= agents; i++) {
    const ns = lab.netns(`a${i}`);
    attach(ns, agentIp(i), `a${i}`);
    agentNs.push(ns);
  }
  const all = [{ ns: seedNs, ip: SEED_IP }, ...agentNs.map((ns, i) => ({ ns, ip: agentIp(i + 1) }))];
  const hosts = all.map((h) => ({ ip: h.ip, mac: lab.exec(h.ns, ['cat', '/sys/class/net/eth0/address']).trim() }));
  for (const h of all) {
    const file = join(dir, `neigh-${h.ip}`);
    writeFileSync(file, neighbourBatch(hosts, h.ip));
    lab.exec(h.ns, ['ip', '-batch', file]);
  }
  return { bridgeNs, seedNs, agentNs, mbit };
}

/** Bytes the seed's link sent (its veth's tx counter, inside the seed's namespace). */
export function seedTxBytes(lab: Lab, net: BenchNet): number {
  return Number(lab.exec(net.seedNs, ['cat', '/sys/class/net/eth0/statistics/tx_bytes']).trim());
}

/** Bytes all agents' links received (the bridge-side veths' tx counters). */
export function agentsRxBytes(lab: Lab, net: BenchNet): number {
  const out = lab.exec(net.bridgeNs, ['sh', '-c', 'cat /sys/class/net/a*/statistics/tx_bytes']);
  return out.split('\n').reduce((s, l) => s + (Number(l.trim()) || 0), 0);
}
