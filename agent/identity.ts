// Which machine am I? The seed names it on the kernel command line when it rendered the boot
// script; otherwise the MAC the firmware booted from is looked up, and an unknown machine enrolls
// itself as `discovered` (it then waits: nothing touches its disks without a spec).
import { ErrorCode, LpmosError, isLpmosError } from '../core/errors.ts';
import type { Keys } from '../core/keys.ts';
import type { Store } from '../core/store/store.ts';
import { nameFromMac } from '../core/model/machine.ts';
import { addMachine, findMachineByMac } from '../core/registry/machines.ts';
import { updateStatus } from '../core/registry/status.ts';

export async function resolveMachine(store: Store, keys: Keys, hint: { machine?: string; bootMac?: string; serial?: string; uuid?: string }): Promise<string> {
  if (hint.machine) {
    if (!(await store.get(keys.machine(hint.machine)))) throw new LpmosError(ErrorCode.NotFound, `machine "${hint.machine}" named on the kernel command line does not exist`);
    return hint.machine;
  }
  if (!hint.bootMac) throw new LpmosError(ErrorCode.Usage, 'no lpmos.machine= and no BOOTIF= on the kernel command line: cannot tell which machine this is');
  const known = await findMachineByMac(store, keys, hint.bootMac);
  if (known) return known;
  const name = nameFromMac(hint.bootMac);
  try {
    await addMachine(store, keys, { name, macs: [hint.bootMac], ...(hint.serial ? { serial: hint.serial } : {}), ...(hint.uuid ? { uuid: hint.uuid } : {}) });
  } catch (e) {
    // Enrolled concurrently (the seed on PXE, or an earlier boot): that machine is us.
    if (!isLpmosError(e, ErrorCode.Duplicate) && !isLpmosError(e, ErrorCode.Conflict)) throw e;
    const again = await findMachineByMac(store, keys, hint.bootMac);
    if (!again) throw e;
    return again;
  }
  await updateStatus(store, keys, name, (cur) => (cur ? undefined : { state: 'discovered' }));
  return name;
}
