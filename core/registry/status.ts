// Status transitions with compare-and-swap: read, decide, write only if nobody wrote in between;
// retried a few times because the seed and the agent both write a machine's status.
import type { Keys } from '../keys.ts';
import type { Store } from '../store/store.ts';
import { statusSchema, type LifecycleState, type Status } from '../model/status.ts';
import { conflict, encode, read } from './records.ts';

export type StatusChange = Partial<Omit<Status, 'since' | 'updatedAt'>> & { state: LifecycleState };

/**
 * Applies `decide(current)` (undefined = leave as it is) with compare-and-swap. `since` moves only
 * when the state changes. Returns the status written, or the current one when nothing changed.
 */
export async function updateStatus(
  store: Store,
  keys: Keys,
  id: string,
  decide: (current: Status | undefined) => StatusChange | undefined,
  now: () => Date = () => new Date(),
): Promise<Status | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await read(store, statusSchema, keys.status(id));
    const change = decide(current?.value);
    if (!change) return current?.value;
    const at = now().toISOString();
    const next = statusSchema.parse({
      ...(current?.value.state === change.state ? current.value : {}),
      ...change,
      since: current?.value.state === change.state ? current.value.since : at,
      updatedAt: at,
    });
    const r = await store.txn([{ key: keys.status(id), modRevision: current?.modRevision ?? 0 }], [{ type: 'put', key: keys.status(id), value: encode(next) }]);
    if (r.succeeded) return next;
  }
  throw conflict(`status of machine "${id}"`);
}
