// Enrollment into the swarm: record an agent's peer id so the gaters admit it. One machine has one
// peer id: an agent that boots again (new in-memory key) replaces its old id in the same
// transaction, so the old id is refused from then on. Compare-and-swap on the machine's index key
// and on the peer key, retried a few times when another writer got in between.
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import type { Keys } from '../../core/keys.ts';
import { conflict, decode, encode } from '../../core/registry/records.ts';
import type { Operation, Store } from '../../core/store/store.ts';
import { machinePeerSchema, peerIdSchema, peerRecordSchema, type PeerRecord } from './record.ts';

export interface EnrollPeerInput {
  peerId: string;
  machine: string;
  addrs: string[];
}

export async function enrollPeer(store: Store, keys: Keys, input: EnrollPeerInput, opts: { now?: () => Date; signal?: AbortSignal } = {}): Promise<PeerRecord> {
  if (!peerIdSchema.safeParse(input.peerId).success) throw new LpmosError(ErrorCode.Validation, `"${input.peerId}" is not a libp2p peer id`);
  const record = peerRecordSchema.parse({ machine: input.machine, addrs: input.addrs, enrolledAt: (opts.now ?? (() => new Date()))().toISOString() });
  const call = opts.signal ? { signal: opts.signal } : undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const [identity, index, existing] = await Promise.all([
      store.get(keys.machine(input.machine), call),
      store.get(keys.swarmMachinePeer(input.machine), call),
      store.get(keys.swarmPeer(input.peerId), call),
    ]);
    // Only a registered machine may join: its identity must exist when the enrollment is written.
    if (!identity) throw new LpmosError(ErrorCode.NotFound, `machine "${input.machine}" not found: enroll the machine before its swarm peer`);
    if (existing) {
      const other = decode(peerRecordSchema, existing);
      if (other.machine !== input.machine) {
        throw new LpmosError(ErrorCode.Duplicate, `peer id ${input.peerId} is already enrolled for machine "${other.machine}"`);
      }
    }
    const ops: Operation[] = [
      { type: 'put', key: keys.swarmPeer(input.peerId), value: encode(record) },
      { type: 'put', key: keys.swarmMachinePeer(input.machine), value: encode({ peerId: input.peerId }) },
    ];
    const previous = index ? decode(machinePeerSchema, index).peerId : undefined;
    if (previous && previous !== input.peerId) ops.push({ type: 'delete', key: keys.swarmPeer(previous) });
    const r = await store.txn(
      [
        { key: identity.key, modRevision: identity.modRevision },
        { key: keys.swarmMachinePeer(input.machine), modRevision: index?.modRevision ?? 0 },
        { key: keys.swarmPeer(input.peerId), modRevision: existing?.modRevision ?? 0 },
      ],
      ops,
      call,
    );
    if (r.succeeded) return record;
  }
  throw conflict(`swarm enrollment of machine "${input.machine}"`);
}

/** Removes a machine's peer id from the swarm (its connections are refused from then on). */
export async function unenrollMachine(store: Store, keys: Keys, machine: string, signal?: AbortSignal): Promise<boolean> {
  const call = signal ? { signal } : undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const index = await store.get(keys.swarmMachinePeer(machine), call);
    if (!index) return false;
    const { peerId } = decode(machinePeerSchema, index);
    const r = await store.txn([{ key: index.key, modRevision: index.modRevision }], [{ type: 'delete', key: index.key }, { type: 'delete', key: keys.swarmPeer(peerId) }], call);
    if (r.succeeded) return true;
  }
  throw conflict(`swarm enrollment of machine "${machine}"`);
}
