// What a boot script needs from the state store: the machine that owns the MAC (enrolling an
// unknown one as `discovered`, DESIGN §2) and its spec. Enrolment is compare-and-swap throughout
// (core/registry/machines.ts): of twenty requests for one new MAC, one creates the machine and its
// status, the others read what it wrote.
import { ErrorCode, isLpmosError, LpmosError } from '../../core/errors.ts';
import type { Keys } from '../../core/keys.ts';
import { nameFromMac } from '../../core/model/machine.ts';
import { specSchema } from '../../core/model/spec.ts';
import { statusSchema } from '../../core/model/status.ts';
import { addMachine, findMachineByMac, writeStatus } from '../../core/registry/machines.ts';
import { read } from '../../core/registry/records.ts';
import type { Store } from '../../core/store/store.ts';
import type { BootQuery } from './boot-query.ts';
import type { BootAction } from './cmdline.ts';

export interface BootMachine {
  id: string;
  mac: string;
  /** spec.action, or `discover` for a machine without a spec (the agent inspects it and waits). */
  action: BootAction;
  /** spec.overrides.kernelCmdline */
  kernelCmdline?: string;
  /** True when this request created the machine. */
  enrolled: boolean;
}

export interface MachineStateDeps {
  store: Store;
  keys: Keys;
  now?: () => Date;
}

async function enroll(deps: MachineStateDeps, q: BootQuery): Promise<{ id: string; enrolled: boolean }> {
  const labels: Record<string, string> = { 'lpmos/enrolled-by': 'http' };
  if (q.platform) labels['lpmos/platform'] = q.platform;
  if (q.arch) labels['lpmos/buildarch'] = q.arch;
  const name = nameFromMac(q.mac);
  try {
    await addMachine(deps.store, deps.keys, { name, macs: [q.mac], labels, ...(q.serial ? { serial: q.serial } : {}), ...(q.uuid ? { uuid: q.uuid } : {}) }, deps.now?.());
    return { id: name, enrolled: true };
  } catch (e) {
    // Another request (or the DHCP server, or another seed) enrolled it first: use what is there.
    if (!isLpmosError(e, ErrorCode.Duplicate) && !isLpmosError(e, ErrorCode.Conflict)) throw e;
    const id = await findMachineByMac(deps.store, deps.keys, q.mac);
    if (id) return { id, enrolled: false };
    throw new LpmosError(ErrorCode.Conflict, `cannot enroll MAC ${q.mac}: machine "${name}" exists with other MACs`, { cause: e });
  }
}

/** The machine booting with this identity, enrolled as `discovered` when unknown. */
export async function machineForBoot(deps: MachineStateDeps, q: BootQuery, signal?: AbortSignal): Promise<BootMachine> {
  const { store, keys } = deps;
  let id = await findMachineByMac(store, keys, q.mac);
  let enrolled = false;
  if (!id) ({ id, enrolled } = await enroll(deps, q));
  signal?.throwIfAborted();
  const [spec, status] = await Promise.all([
    read(store, specSchema, keys.spec(id), signal),
    read(store, statusSchema, keys.status(id), signal),
  ]);
  if (!status) {
    // Lifecycle starts at `discovered`; written only while no status exists (revision 0), so a
    // concurrent writer — another request, or the agent's `inspected` — is never overwritten.
    const now = (deps.now?.() ?? new Date()).toISOString();
    await writeStatus(store, keys, id, { state: 'discovered', since: now, updatedAt: now }, 0);
  }
  const cmdline = spec?.value.overrides?.kernelCmdline;
  return { id, mac: q.mac, action: spec?.value.action ?? 'discover', enrolled, ...(cmdline ? { kernelCmdline: cmdline } : {}) };
}
