// /proc/net/bonding/<bond> (Linux bonding driver, Documentation/networking/bonding.rst §"Monitoring").
// The one place older kernels and iproute2 versions give a member's permanent MAC address: a bond
// rewrites its members' addresses, and a PXE boot identifies the machine by the burned-in one.
import { normalizeMac } from '../../core/model/common.ts';
import { keyValueLines, toCount } from './text.ts';

export interface BondMember {
  name: string;
  permanentMac: string | null;
  miiUp: boolean | null;
  speedMbps: number | null;
}

export interface BondInfo {
  mode: string | null;
  members: BondMember[];
}

export function parseBonding(text: string): BondInfo {
  const sections = text.split(/^(?=Slave Interface:)/m);
  const head = keyValueLines(sections[0] ?? '');
  const members: BondMember[] = [];
  for (const sec of sections.slice(1)) {
    const f = keyValueLines(sec);
    const name = f.get('Slave Interface');
    if (!name) continue;
    const mii = (f.get('MII Status') ?? '').toLowerCase();
    members.push({
      name,
      permanentMac: normalizeMac(f.get('Permanent HW addr') ?? '') ?? null,
      miiUp: mii === 'up' ? true : mii === 'down' ? false : null,
      speedMbps: toCount(f.get('Speed')),
    });
  }
  return { mode: head.get('Bonding Mode') ?? null, members };
}
