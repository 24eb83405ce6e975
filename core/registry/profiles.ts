// Profiles in the store: `profiles/<name>`.
import { ErrorCode, LpmosError } from '../errors.ts';
import type { Keys } from '../keys.ts';
import type { Store } from '../store/store.ts';
import { profileSchema, type Profile } from '../model/profile.ts';
import { specSchema } from '../model/spec.ts';
import { conflict, decode, read, type Versioned } from './records.ts';

export async function getProfile(store: Store, keys: Keys, name: string): Promise<Versioned<Profile>> {
  const p = await read(store, profileSchema, keys.profile(name));
  if (!p) throw new LpmosError(ErrorCode.NotFound, `profile "${name}" does not exist`);
  return p;
}

export async function listProfiles(store: Store, keys: Keys): Promise<Profile[]> {
  const { kvs } = await store.list(keys.profiles());
  return kvs.map((kv) => decode(profileSchema, kv));
}

/** Machines whose spec names the profile. */
export async function machinesUsingProfile(store: Store, keys: Keys, name: string): Promise<string[]> {
  const { kvs } = await store.list(keys.machines());
  const users: string[] = [];
  for (const kv of kvs) {
    const k = keys.parseMachineKey(kv.key);
    if (k?.part !== 'spec') continue;
    if (decode(specSchema, kv).profile === name) users.push(k.id);
  }
  return users;
}

/** Deletes a profile that no machine's spec uses, with compare-and-swap on what was read. */
export async function deleteProfile(store: Store, keys: Keys, name: string): Promise<void> {
  const current = await getProfile(store, keys, name);
  const users = await machinesUsingProfile(store, keys, name);
  if (users.length) {
    throw new LpmosError(ErrorCode.Conflict, `profile "${name}" is used by ${users.length} machine(s): ${users.slice(0, 10).join(', ')}${users.length > 10 ? ', …' : ''}; assign them another profile first`);
  }
  const r = await store.txn([{ key: keys.profile(name), modRevision: current.modRevision }], [{ type: 'delete', key: keys.profile(name) }]);
  if (!r.succeeded) throw conflict(`profile "${name}"`);
}
