// Key layout in the store (DESIGN §2): everything of one site lives under `<prefix><site>/`,
// so several sites can share one etcd cluster. Default prefix `/lpmos/`, default site `default`.

export const DEFAULT_PREFIX = '/lpmos/';
export const DEFAULT_SITE = 'default';

const NAME = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;

/** Names of sites, profiles and machines: DNS-label-like, so they are safe in keys, URLs and hostnames. */
export function isValidName(name: string): boolean {
  return NAME.test(name);
}
export const NAME_RULE = 'lower-case letters, digits, ".", "_" and "-", starting and ending with a letter or digit, at most 64 characters';

export class Keys {
  readonly root: string;
  constructor(prefix: string = DEFAULT_PREFIX, site: string = DEFAULT_SITE) {
    const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.root = `${p}${site}/`;
  }
  profiles(): string { return `${this.root}profiles/`; }
  profile(name: string): string { return `${this.root}profiles/${name}`; }
  machines(): string { return `${this.root}machines/`; }
  /** Identity record of a machine (MACs, serial, UUID, labels). */
  machine(id: string): string { return `${this.root}machines/${id}`; }
  spec(id: string): string { return `${this.root}machines/${id}/spec`; }
  /**
   * What the agent found. Kept apart from `machines/` (DESIGN §2 names it `machines/<id>/inventory`):
   * it is ten times the size of everything else about a machine, and `machine list` must not read
   * it — measured with 10,000 machines, listing with inventories inline took 3.3 s (bench:list).
   */
  inventory(id: string): string { return `${this.root}inventory/${id}`; }
  inventories(): string { return `${this.root}inventory/`; }
  status(id: string): string { return `${this.root}machines/${id}/status`; }
  /** The install plan's checkpoint: last step and the steps finished, so a restarted agent resumes. */
  plan(id: string): string { return `${this.root}machines/${id}/plan`; }
  /** Everything of one machine except its identity key. */
  machineChildren(id: string): string { return `${this.root}machines/${id}/`; }
  /** Index MAC → machine id, kept in the same transaction as the machine, so a MAC belongs to one machine. */
  macIndex(mac: string): string { return `${this.root}macs/${mac}`; }
  macs(): string { return `${this.root}macs/`; }
  leases(): string { return `${this.root}leases/`; }
  lease(mac: string): string { return `${this.root}leases/${mac}`; }
  /** Address index of DHCP leases: which MAC holds (or which decline quarantines) an address; CAS target. */
  leaseAddresses(): string { return `${this.root}lease-addresses/`; }
  leaseAddress(ip: string): string { return `${this.root}lease-addresses/${ip}`; }
  swarm(): string { return `${this.root}swarm/`; }
  /** Peer ids admitted to the swarm (the connection gater's allow-list), written when an agent enrolls. */
  swarmPeers(): string { return `${this.root}swarm/peers/`; }
  swarmPeer(peerId: string): string { return `${this.root}swarm/peers/${peerId}`; }
  /** Index machine → its current peer id, so one machine has one peer id (CAS target on re-enrollment). */
  swarmMachinePeer(machine: string): string { return `${this.root}swarm/machine-peers/${machine}`; }
  /**
   * Progress history of a machine, one key per logged event (`<seq>` zero-padded, so key order is
   * seq order). Kept apart from `machines/` for the reason given at inventory(): `machine list` reads
   * everything under `machines/`, and a history is hundreds of records.
   */
  machineLogs(id: string): string { return `${this.root}logs/${id}/`; }
  machineLogEntry(id: string, seq: number): string { return `${this.root}logs/${id}/${String(seq).padStart(12, '0')}`; }
  /** Blob exchange counters of one machine's agent (bytes from seed, from peers, served), written by that agent only. */
  swarmMetrics(machine: string): string { return `${this.root}swarm/metrics/${machine}`; }
  swarmMetricsAll(): string { return `${this.root}swarm/metrics/`; }
  /** Highest progress seq the seed has folded into etcd for a machine: the publisher's acknowledgement. */
  progressSeq(id: string): string { return `${this.root}progress/${id}`; }

  /** Splits a key under machines/ into machine id and part (`identity`, `spec`, ...); undefined otherwise. */
  parseMachineKey(key: string): { id: string; part: 'identity' | 'spec' | 'inventory' | 'status' | string } | undefined {
    const base = this.machines();
    if (!key.startsWith(base)) return undefined;
    const rest = key.slice(base.length);
    const slash = rest.indexOf('/');
    if (slash < 0) return rest ? { id: rest, part: 'identity' } : undefined;
    return { id: rest.slice(0, slash), part: rest.slice(slash + 1) };
  }
}
