// Machines in the store: identity `machines/<id>`, desired `…/spec`, observed `…/status` and
// `…/inventory`, and the index `macs/<mac> → id` that keeps one MAC on one machine. Every change
// that touches several keys is one transaction with compare-and-swap on what was read.
import { ErrorCode, LpmosError } from '../errors.ts';
import type { Keys } from '../keys.ts';
import type { Compare, KeyValue, Operation, Store } from '../store/store.ts';
import { machineSchema, type Machine } from '../model/machine.ts';
import { specSchema, type Action, type Spec } from '../model/spec.ts';
import { statusSchema, type Status } from '../model/status.ts';
import { conflict, decode, encode, read, type Versioned } from './records.ts';

export interface MachineView {
  machine: Machine;
  spec?: Spec;
  status?: Status;
  /** Inventory as stored (only from getMachine); its schema belongs to the agent's inventory model. */
  inventory?: unknown;
  revisions: { machine: number; spec: number; status: number; inventory: number };
}

/**
 * Bulk reads for display (`machine list` over 10,000 machines) skip the full schema: every record
 * was validated when it was written, and the schemas cost a third of the listing's CPU (measured
 * with bench:list). A record that is not even the right shape is still reported with its key.
 */
function decodeShallow<T>(kv: KeyValue, ok: (v: Record<string, unknown>) => boolean): T {
  let v: unknown;
  try {
    v = JSON.parse(kv.value);
  } catch (e) {
    throw new LpmosError(ErrorCode.Internal, `stored record ${kv.key} is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || !ok(v as Record<string, unknown>)) throw new LpmosError(ErrorCode.Internal, `stored record ${kv.key} does not match its schema`);
  return v as T;
}

const shallow = {
  machine: (kv: KeyValue) => decodeShallow<Machine>(kv, (v) => v.kind === 'Machine' && typeof v.name === 'string' && Array.isArray(v.macs)),
  spec: (kv: KeyValue) => decodeShallow<Spec>(kv, (v) => typeof v.action === 'string'),
  status: (kv: KeyValue) => decodeShallow<Status>(kv, (v) => typeof v.state === 'string'),
};
const strict = {
  machine: (kv: KeyValue) => decode(machineSchema, kv),
  spec: (kv: KeyValue) => decode(specSchema, kv),
  status: (kv: KeyValue) => decode(statusSchema, kv),
};

/** Groups the keys under machines/ into one view per machine; unknown sub-keys are ignored. */
export function groupMachines(keys: Keys, kvs: KeyValue[], decoders: typeof strict = strict): MachineView[] {
  const byId = new Map<string, Partial<MachineView> & { revisions: MachineView['revisions'] }>();
  const slot = (id: string) => {
    let v = byId.get(id);
    if (!v) byId.set(id, (v = { revisions: { machine: 0, spec: 0, status: 0, inventory: 0 } }));
    return v;
  };
  for (const kv of kvs) {
    const k = keys.parseMachineKey(kv.key);
    if (!k) continue;
    const v = slot(k.id);
    if (k.part === 'identity') {
      v.machine = decoders.machine(kv);
      v.revisions.machine = kv.modRevision;
    } else if (k.part === 'spec') {
      v.spec = decoders.spec(kv);
      v.revisions.spec = kv.modRevision;
    } else if (k.part === 'status') {
      v.status = decoders.status(kv);
      v.revisions.status = kv.modRevision;
    }
  }
  return [...byId.values()].filter((v): v is MachineView => v.machine !== undefined);
}

export async function listMachines(store: Store, keys: Keys): Promise<MachineView[]> {
  const { kvs } = await store.list(keys.machines());
  return groupMachines(keys, kvs, shallow);
}

export async function getMachine(store: Store, keys: Keys, name: string): Promise<MachineView> {
  const [identity, rest, inventory] = await Promise.all([store.get(keys.machine(name)), store.list(keys.machineChildren(name)), store.get(keys.inventory(name))]);
  if (!identity) throw new LpmosError(ErrorCode.NotFound, `machine "${name}" does not exist`);
  const [view] = groupMachines(keys, [identity, ...rest.kvs]);
  if (!view) throw new LpmosError(ErrorCode.NotFound, `machine "${name}" does not exist`);
  if (inventory) {
    view.inventory = JSON.parse(inventory.value) as unknown;
    view.revisions.inventory = inventory.modRevision;
  }
  return view;
}

export async function findMachineByMac(store: Store, keys: Keys, mac: string): Promise<string | undefined> {
  return (await store.get(keys.macIndex(mac)))?.value;
}

/**
 * Compares and operations that write a machine's identity (and optionally its spec), keep the MAC
 * index exact, and fail on a MAC that belongs to another machine. `current` is what was read.
 */
export async function machineWrite(
  store: Store,
  keys: Keys,
  next: Machine,
  current: Versioned<Machine> | undefined,
): Promise<{ compares: Compare[]; ops: Operation[] }> {
  const compares: Compare[] = [{ key: keys.machine(next.name), modRevision: current?.modRevision ?? 0 }];
  const ops: Operation[] = [{ type: 'put', key: keys.machine(next.name), value: encode(next) }];
  const old = new Set(current?.value.macs ?? []);
  for (const mac of next.macs) {
    const idx = await store.get(keys.macIndex(mac));
    if (idx && idx.value !== next.name) {
      throw new LpmosError(ErrorCode.Duplicate, `MAC ${mac} already belongs to machine "${idx.value}"`, { details: [{ path: `machine/${next.name}: macs`, message: `MAC ${mac} already belongs to machine "${idx.value}"` }] });
    }
    compares.push({ key: keys.macIndex(mac), modRevision: idx?.modRevision ?? 0 });
    if (!idx) ops.push({ type: 'put', key: keys.macIndex(mac), value: next.name });
    old.delete(mac);
  }
  for (const mac of old) ops.push({ type: 'delete', key: keys.macIndex(mac) });
  return { compares, ops };
}

export interface AddMachineInput {
  name: string;
  macs: string[];
  serial?: string;
  uuid?: string;
  labels?: Record<string, string>;
  ipv4?: string;
}

export async function addMachine(store: Store, keys: Keys, input: AddMachineInput, now = new Date()): Promise<Machine> {
  const parsed = machineSchema.safeParse({ kind: 'Machine', labels: {}, ...input, createdAt: now.toISOString() });
  if (!parsed.success) {
    throw new LpmosError(ErrorCode.Validation, `machine "${input.name}" is not valid; nothing was written`, {
      details: parsed.error.issues.map((i) => ({ path: `machine/${input.name}: ${i.path.join('.')}`, message: i.message })),
    });
  }
  const existing = await store.get(keys.machine(parsed.data.name));
  if (existing) throw new LpmosError(ErrorCode.Duplicate, `machine "${parsed.data.name}" already exists`);
  const w = await machineWrite(store, keys, parsed.data, undefined);
  const r = await store.txn(w.compares, w.ops);
  if (!r.succeeded) throw conflict(`machine "${parsed.data.name}" or one of its MACs`);
  return parsed.data;
}

/**
 * Sets a machine's spec with compare-and-swap: of two operators assigning at once, one wins and the
 * other gets E_CONFLICT. The profile must exist and must not change under the write.
 */
export async function assignMachine(
  store: Store,
  keys: Keys,
  name: string,
  change: { profile?: string; action: Action },
  now = new Date(),
): Promise<Spec> {
  const machine = await store.get(keys.machine(name));
  if (!machine) throw new LpmosError(ErrorCode.NotFound, `machine "${name}" does not exist`);
  const current = await read(store, specSchema, keys.spec(name));
  const profile = change.profile ?? current?.value.profile;
  const compares: Compare[] = [
    { key: keys.machine(name), modRevision: machine.modRevision },
    { key: keys.spec(name), modRevision: current?.modRevision ?? 0 },
  ];
  if (profile !== undefined) {
    const p = await store.get(keys.profile(profile));
    if (!p) throw new LpmosError(ErrorCode.NotFound, `profile "${profile}" does not exist`, { details: [{ path: `machine/${name}: spec.profile`, message: `unknown profile "${profile}"` }] });
    compares.push({ key: keys.profile(profile), modRevision: p.modRevision });
  }
  const parsed = specSchema.safeParse({ ...current?.value, action: change.action, ...(profile ? { profile } : {}), updatedAt: now.toISOString() });
  if (!parsed.success) {
    throw new LpmosError(ErrorCode.Validation, `spec of machine "${name}" is not valid; nothing was written`, {
      details: parsed.error.issues.map((i) => ({ path: `machine/${name}: spec.${i.path.join('.')}`, message: i.message })),
    });
  }
  const r = await store.txn(compares, [{ type: 'put', key: keys.spec(name), value: encode(parsed.data) }]);
  if (!r.succeeded) throw conflict(`machine "${name}"`);
  return parsed.data;
}

export async function deleteMachine(store: Store, keys: Keys, name: string): Promise<void> {
  const current = await read(store, machineSchema, keys.machine(name));
  if (!current) throw new LpmosError(ErrorCode.NotFound, `machine "${name}" does not exist`);
  const ops: Operation[] = [
    { type: 'delete', key: keys.machine(name) },
    { type: 'deletePrefix', prefix: keys.machineChildren(name) },
    { type: 'delete', key: keys.inventory(name) },
    { type: 'deletePrefix', prefix: keys.machineLogs(name) },
    { type: 'delete', key: keys.progressSeq(name) },
    ...current.value.macs.map((mac): Operation => ({ type: 'delete', key: keys.macIndex(mac) })),
  ];
  const compares: Compare[] = [{ key: keys.machine(name), modRevision: current.modRevision }];
  // Its swarm enrollment goes too: a deleted machine's peer must not stay admitted.
  const peer = await store.get(keys.swarmMachinePeer(name));
  if (peer) {
    compares.push({ key: peer.key, modRevision: peer.modRevision });
    ops.push({ type: 'delete', key: peer.key });
    const peerId = (JSON.parse(peer.value) as { peerId?: unknown }).peerId;
    if (typeof peerId === 'string') ops.push({ type: 'delete', key: keys.swarmPeer(peerId) });
  }
  const r = await store.txn(compares, ops);
  if (!r.succeeded) throw conflict(`machine "${name}"`);
}

/** Writes a status with compare-and-swap against the revision read (0: must not exist yet). */
export async function writeStatus(store: Store, keys: Keys, name: string, status: Status, expectRevision: number): Promise<boolean> {
  const parsed = statusSchema.parse(status);
  const r = await store.txn([{ key: keys.status(name), modRevision: expectRevision }], [{ type: 'put', key: keys.status(name), value: encode(parsed) }]);
  return r.succeeded;
}
