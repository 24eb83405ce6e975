// The lab's provisioning network (DESIGN §6): one network namespace holding a bridge with the seed's
// address and one tap device per VM. Nothing touches the host's own interfaces: the seed and QEMU run
// inside the namespace, so DHCP never reaches a real network. Addresses come only from the lab block
// 10.213.64.0/20. destroy() kills what still runs in the namespace and deletes it (which deletes the
// bridge and taps with it); an exit hook does the same if the process ends without destroy().
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { pidAlive } from './process.ts';

/** The only addresses the lab may use. */
export const LAB_BLOCK = { base: '10.213.64.0', prefix: 20 } as const;

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new TypeError(`"${ip}" is not an IPv4 address`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function inBlock(ip: string, base: string, prefix: number): boolean {
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return ((ipToInt(ip) & mask) >>> 0) === ((ipToInt(base) & mask) >>> 0);
}

export interface LabAddressing {
  /** The seed's address on the bridge. */
  seed: string;
  prefix: number;
  /** First and last address the DHCP server may lease. */
  rangeStart: string;
  rangeEnd: string;
}

/**
 * Addressing for lab number `index` (0-15): the /24 10.213.(64+index).0 inside the lab block; the seed
 * is .1, leases .100-.199. Pure; throws for anything outside 10.213.64.0/20.
 */
export function labAddressing(index = 0): LabAddressing {
  if (!Number.isInteger(index) || index < 0 || index > 15) throw new RangeError('lab index must be 0-15 (10.213.64.0/20 holds 16 /24s)');
  const net = ipToInt(LAB_BLOCK.base) + index * 256;
  const a: LabAddressing = { seed: intToIp(net + 1), prefix: 24, rangeStart: intToIp(net + 100), rangeEnd: intToIp(net + 199) };
  for (const ip of [a.seed, a.rangeStart, a.rangeEnd]) {
    if (!inBlock(ip, LAB_BLOCK.base, LAB_BLOCK.prefix)) throw new RangeError(`${ip} is outside the lab block`);
  }
  return a;
}

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const PREFIX = 'lpm-lab-';

/** Namespaces `lpm-lab-<pid>-…` whose creating process is gone: left by a run that was killed hard. */
export function staleLabNamespaces(names: readonly string[], isAlive: (pid: number) => boolean): string[] {
  return names.filter((n) => {
    const m = /^lpm-lab-(\d+)-/.exec(n);
    return m !== null && Number(m[1]) !== process.pid && !isAlive(Number(m[1]));
  });
}


function listNamespaces(): string[] {
  try {
    return readdirSync('/var/run/netns');
  } catch {
    return [];
  }
}

function killInside(ns: string): void {
  let pids: string[] = [];
  try {
    pids = ip(['netns', 'pids', ns]).split('\n').filter(Boolean);
  } catch {
    return;
  }
  for (const p of pids) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // gone
    }
  }
}

function deleteNamespace(ns: string): void {
  killInside(ns);
  try {
    ip(['netns', 'del', ns]);
  } catch {
    // already gone
  }
}

/** Removes lab namespaces left by dead runs of this code (never another live process's). */
export function sweepStaleLabs(): string[] {
  const stale = staleLabNamespaces(listNamespaces().filter((n) => n.startsWith(PREFIX)), pidAlive);
  for (const ns of stale) deleteNamespace(ns);
  return stale;
}

export interface LabNetworkOptions {
  /** Suffix of the namespace name (default `net`): `lpm-lab-<pid>-<suffix>`. */
  suffix?: string;
  /** Which /24 of the lab block (default 0: 10.213.64.0/24). */
  index?: number;
}

const live = new Set<LabNetwork>();
let exitHook = false;

export class LabNetwork {
  readonly ns: string;
  readonly bridge = 'lpmbr0';
  readonly addressing: LabAddressing;
  readonly #taps: string[] = [];
  #destroyed = false;

  private constructor(ns: string, addressing: LabAddressing) {
    this.ns = ns;
    this.addressing = addressing;
  }

  /** Creates the namespace (loopback up) and the bridge with the seed's address. */
  static create(opts: LabNetworkOptions = {}): LabNetwork {
    const suffix = opts.suffix ?? 'net';
    if (!/^[a-z0-9-]{1,20}$/.test(suffix)) throw new TypeError('suffix must be 1-20 of a-z, 0-9, "-"');
    const net = new LabNetwork(`${PREFIX}${process.pid}-${suffix}`, labAddressing(opts.index ?? 0));
    ip(['netns', 'add', net.ns]);
    live.add(net);
    if (!exitHook) {
      exitHook = true;
      // Last resort when the process ends without destroy() (an uncaught error, process.exit).
      process.once('exit', () => {
        for (const n of live) deleteNamespace(n.ns);
      });
    }
    try {
      const a = net.addressing;
      net.exec(['ip', 'link', 'set', 'lo', 'up']);
      net.exec(['ip', 'link', 'add', net.bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
      net.exec(['ip', 'addr', 'add', `${a.seed}/${a.prefix}`, 'dev', net.bridge]);
      net.exec(['ip', 'link', 'set', net.bridge, 'up']);
    } catch (e) {
      net.destroy();
      throw e;
    }
    return net;
  }

  /** Runs a short command inside the namespace; returns stdout, throws with stderr. */
  exec(argv: readonly string[]): string {
    return ip(['netns', 'exec', this.ns, ...argv]);
  }

  /** A tap device on the bridge for one VM (QEMU opens it by name from inside the namespace). */
  addTap(name = `tap${this.#taps.length}`): string {
    if (!/^[A-Za-z0-9._-]{1,15}$/.test(name)) throw new TypeError(`tap name ${name} is not a valid interface name`);
    this.exec(['ip', 'tuntap', 'add', 'dev', name, 'mode', 'tap']);
    this.#taps.push(name);
    this.exec(['ip', 'link', 'set', name, 'master', this.bridge]);
    this.exec(['ip', 'link', 'set', name, 'up']);
    return name;
  }

  get taps(): readonly string[] {
    return this.#taps;
  }

  /** Kills every process still in the namespace, then deletes it (bridge and taps go with it). */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    live.delete(this);
    deleteNamespace(this.ns);
  }

  /** Whether the namespace still exists (tests check cleanup). */
  exists(): boolean {
    return listNamespaces().includes(this.ns);
  }
}
