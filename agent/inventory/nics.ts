// Assembling NIC records from the link list (ip -j -d link), per-interface ethtool output and
// /proc/net/bonding. Pure: the collector gathers the inputs.
import type { Nic, NicKind } from '../../core/model/inventory.ts';
import type { BondInfo } from './parse-bonding.ts';
import type { EthtoolDriver, EthtoolLink } from './parse-ethtool.ts';
import type { IpLink } from './parse-ip-link.ts';

export interface NicInputs {
  links: readonly IpLink[];
  drivers: ReadonlyMap<string, EthtoolDriver>;
  settings: ReadonlyMap<string, EthtoolLink>;
  bonds: ReadonlyMap<string, BondInfo>;
}

const PCI_ADDRESS = /^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i;

/** Interfaces worth reporting: Ethernet-like links, not loopback, tunnels or CAN. */
export function isEthernet(l: IpLink): boolean {
  return l.linkType === 'ether' || (l.linkType === null && l.address !== null && l.name !== 'lo');
}

function kindOf(l: IpLink, driver: EthtoolDriver | undefined): NicKind {
  if (l.kind === 'bond' || l.kind === 'team') return 'bond';
  if (l.kind === 'vlan') return 'vlan';
  if (l.kind === 'bridge') return 'bridge';
  if (l.kind !== null) return 'virtual'; // veth, dummy, ifb, macvlan, tun, vxlan…
  if (l.parentBus !== null) return 'physical';
  if (driver?.busInfo && driver.busInfo !== '') return 'physical';
  return 'virtual';
}

function linkState(l: IpLink, settings: EthtoolLink | undefined): Nic['link'] {
  if (settings?.linkDetected === true) return 'up';
  if (settings?.linkDetected === false) return 'down';
  // RFC 2863 operational status as the kernel reports it (IF_OPER_*)
  const op = (l.operstate ?? '').toUpperCase();
  if (op === 'UP') return 'up';
  if (op === 'DOWN' || op === 'LOWERLAYERDOWN' || op === 'NOTPRESENT') return 'down';
  if (l.flags.includes('NO-CARRIER')) return 'down';
  if (l.flags.includes('LOWER_UP')) return 'up';
  return 'unknown';
}

export function assembleNics(inputs: NicInputs): Nic[] {
  const permanentFromBond = new Map<string, string>();
  for (const bond of inputs.bonds.values()) {
    for (const m of bond.members) if (m.permanentMac) permanentFromBond.set(m.name, m.permanentMac);
  }
  const eth = inputs.links.filter(isEthernet);
  return eth.map((l) => {
    const driver = inputs.drivers.get(l.name);
    const settings = inputs.settings.get(l.name);
    const mac = l.permAddress ?? permanentFromBond.get(l.name) ?? l.address;
    const busPci = l.parentBus === 'pci' && l.parentDev && PCI_ADDRESS.test(l.parentDev) ? l.parentDev : null;
    const drvPci = driver?.busInfo && PCI_ADDRESS.test(driver.busInfo) ? driver.busInfo : null;
    const kind = kindOf(l, driver);
    const members = kind === 'bond' || kind === 'bridge'
      ? inputs.links.filter((m) => m.master === l.name).map((m) => m.name)
      : [];
    for (const m of inputs.bonds.get(l.name)?.members ?? []) if (!members.includes(m.name)) members.push(m.name);
    return {
      name: l.name,
      mac,
      currentMac: l.address !== null && l.address !== mac ? l.address : null,
      link: linkState(l, settings),
      speedMbps: settings?.speedMbps ?? null,
      driver: driver?.driver ?? null,
      pciAddress: (busPci ?? drvPci)?.toLowerCase() ?? null,
      mtu: l.mtu,
      kind,
      master: l.master,
      members,
    };
  });
}
