// The agent's settings on the kernel command line: written by the seed's boot scripts
// (iPXE/GRUB/pxelinux), read by the ramdisk's init and the agent from /proc/cmdline.
// `lpmos.*` parameters plus BOOTIF (pxelinux's convention, `01-aa-bb-cc-dd-ee-ff`: type 1 = Ethernet).
import { ErrorCode, LpmosError } from './errors.ts';
import { normalizeMac } from './model/common.ts';

export interface AgentBootSettings {
  /** Seed HTTP base URL, e.g. http://10.213.64.1:8080 */
  seed: string;
  /** etcd client URLs reachable from the provisioning network. */
  etcd: string[];
  site: string;
  prefix: string;
  /** Machine id (name) the seed gave this machine when it booted. */
  machine?: string;
  /** MAC of the interface the firmware booted from. */
  bootMac?: string;
  /** libp2p multiaddrs of the seed's swarm peer. */
  bootstrap: string[];
}

export function bootifFromMac(mac: string): string {
  return `01-${mac.replaceAll(':', '-')}`;
}

/** Kernel parameters for the agent, in a stable order; values never contain spaces. */
export function encodeAgentCmdline(s: AgentBootSettings): string {
  const parts = [`lpmos.seed=${s.seed}`, `lpmos.etcd=${s.etcd.join(',')}`, `lpmos.site=${s.site}`, `lpmos.prefix=${s.prefix}`];
  if (s.machine) parts.push(`lpmos.machine=${s.machine}`);
  if (s.bootstrap.length) parts.push(`lpmos.bootstrap=${s.bootstrap.join(',')}`);
  if (s.bootMac) parts.push(`BOOTIF=${bootifFromMac(s.bootMac)}`);
  for (const p of parts) if (/\s/.test(p)) throw new LpmosError(ErrorCode.Validation, `kernel parameter "${p}" contains white space`);
  return parts.join(' ');
}

/** Splits a kernel command line into key → value (last one wins, as the kernel does for most). */
export function parseCmdline(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const word of text.trim().split(/\s+/)) {
    if (!word) continue;
    const eq = word.indexOf('=');
    out.set(eq < 0 ? word : word.slice(0, eq), eq < 0 ? '' : word.slice(eq + 1).replace(/^"(.*)"$/, '$1'));
  }
  return out;
}

export function decodeAgentCmdline(text: string): AgentBootSettings {
  const p = parseCmdline(text);
  const need = (k: string): string => {
    const v = p.get(k);
    if (!v) throw new LpmosError(ErrorCode.Usage, `kernel command line has no ${k}=…; boot the agent through the seed's boot script`);
    return v;
  };
  const bootif = p.get('BOOTIF');
  let bootMac: string | undefined;
  if (bootif) {
    bootMac = normalizeMac(bootif.replace(/^01-/, ''));
    if (!bootMac) throw new LpmosError(ErrorCode.Usage, `BOOTIF=${bootif} is not 01-<mac>`);
  }
  const machine = p.get('lpmos.machine');
  return {
    seed: need('lpmos.seed'),
    etcd: need('lpmos.etcd').split(',').filter(Boolean),
    site: p.get('lpmos.site') || 'default',
    prefix: p.get('lpmos.prefix') || '/lpmos/',
    bootstrap: (p.get('lpmos.bootstrap') ?? '').split(',').filter(Boolean),
    ...(machine ? { machine } : {}),
    ...(bootMac ? { bootMac } : {}),
  };
}
