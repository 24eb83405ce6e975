// `ip -j -d link show` (iproute2 ≥ 4.13 for JSON) into link records. With -d the kernel's
// IFLA_LINKINFO tells bonds, VLANs, bridges and virtual links apart, IFLA_PERM_ADDRESS
// (`permaddr`, iproute2 ≥ 5.10) and the bond member data carry the burned-in MAC address, and
// IFLA_PARENT_DEV_* (`parentbus`/`parentdev`, iproute2 ≥ 5.15) the bus the device sits on.
import { normalizeMac } from '../../core/model/common.ts';

export interface IpLink {
  name: string;
  linkType: string | null;
  address: string | null;
  permAddress: string | null;
  mtu: number | null;
  operstate: string | null;
  flags: string[];
  /** IFLA_INFO_KIND: `bond`, `vlan`, `bridge`, `veth`, `dummy`…; null for plain hardware. */
  kind: string | null;
  /** Kind of the master this link is enslaved to (`bond`, `bridge`). */
  slaveKind: string | null;
  master: string | null;
  parentBus: string | null;
  parentDev: string | null;
}

type Raw = Record<string, unknown>;
const s = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const obj = (v: unknown): Raw => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : {});

export function parseIpLink(json: string): IpLink[] {
  const doc: unknown = JSON.parse(json);
  if (!Array.isArray(doc)) return [];
  const out: IpLink[] = [];
  for (const item of doc) {
    const l = obj(item);
    const name = s(l.ifname);
    if (!name) continue;
    const info = obj(l.linkinfo);
    const slaveData = obj(info.info_slave_data);
    const mac = (v: unknown): string | null => {
      const t = s(v);
      return t ? normalizeMac(t) ?? null : null;
    };
    out.push({
      name,
      linkType: s(l.link_type),
      address: mac(l.address),
      permAddress: mac(l.permaddr) ?? mac(slaveData.perm_hwaddr),
      mtu: typeof l.mtu === 'number' ? l.mtu : null,
      operstate: s(l.operstate),
      flags: Array.isArray(l.flags) ? l.flags.filter((f): f is string => typeof f === 'string') : [],
      kind: s(info.info_kind),
      slaveKind: s(info.info_slave_kind),
      master: s(l.master),
      parentBus: s(l.parentbus),
      parentDev: s(l.parentdev),
    });
  }
  return out;
}
