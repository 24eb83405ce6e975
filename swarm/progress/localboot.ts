// After the installer's `complete`: the machine's spec goes from `install` to `localboot` (profile
// and overrides kept), so its next boot — PXE menus and iPXE scripts follow the spec — starts the
// installed system, and the agent, watching its spec, reboots. Compare-and-swap on
// machines/<id>/spec: an operator who changed the spec in the meantime (another action, another
// profile) wins, and a spec that is no longer `install` is left alone (so a resent `complete` is a
// no-op).
import type { Keys } from '../../core/keys.ts';
import { specSchema } from '../../core/model/spec.ts';
import { conflict, encode, read } from '../../core/registry/records.ts';
import type { Store } from '../../core/store/store.ts';

export type LocalbootResult = 'localboot' | 'unchanged';

export async function installedToLocalboot(store: Store, keys: Keys, id: string, now: () => Date = () => new Date()): Promise<LocalbootResult> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await read(store, specSchema, keys.spec(id));
    if (current?.value.action !== 'install') return 'unchanged';
    const next = specSchema.parse({ ...current.value, action: 'localboot', updatedAt: now().toISOString() });
    const r = await store.txn([{ key: keys.spec(id), modRevision: current.modRevision }], [{ type: 'put', key: keys.spec(id), value: encode(next) }]);
    if (r.succeeded) return 'localboot';
  }
  throw conflict(`spec of machine "${id}"`);
}
