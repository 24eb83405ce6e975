// The boot menus' view of the state store: machine by MAC (the `macs/<mac>` index, then its spec)
// and by leased address (`lease-addresses/<ip>` → MAC). Records failing their schema throw (the
// TFTP server answers with an error rather than a wrong menu).
import type { Keys } from '../../core/keys.ts';
import { addressClaimSchema } from '../../core/model/lease.ts';
import { specSchema } from '../../core/model/spec.ts';
import { read } from '../../core/registry/records.ts';
import type { Store } from '../../core/store/store.ts';
import type { MachineBoot, MachineBootPort } from './boot-menus.ts';

export function storeBootPort(store: Store, keys: Keys): MachineBootPort {
  const byMac = async (mac: string, signal: AbortSignal): Promise<MachineBoot | undefined> => {
    const id = (await store.get(keys.macIndex(mac), { signal }))?.value;
    if (!id) return undefined;
    const spec = await read(store, specSchema, keys.spec(id), signal);
    const cmdline = spec?.value.overrides?.kernelCmdline;
    return { id, mac, action: spec?.value.action ?? 'discover', ...(cmdline ? { kernelCmdline: cmdline } : {}) };
  };
  return {
    byMac,
    async byIp(ip, signal) {
      const claim = await read(store, addressClaimSchema, keys.leaseAddress(ip), signal);
      if (!claim?.value.mac || claim.value.state !== 'bound') return undefined;
      return byMac(claim.value.mac, signal);
    },
  };
}
