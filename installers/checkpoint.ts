// Where the runner records its progress so that a restarted agent resumes after the last finished
// step: a port with one implementation on the Store (`machines/<id>/plan`), written with
// compare-and-swap so that two agents for the same machine (a stale one, a restarted one) cannot
// both advance the plan.
import { z } from 'zod';
import { ErrorCode, LpmosError } from '../core/errors.ts';
import type { Keys } from '../core/keys.ts';
import { decode, encode } from '../core/registry/records.ts';
import type { Store } from '../core/store/store.ts';

export const checkpointSchema = z.strictObject({
  /** The step running or last finished. */
  step: z.string(),
  /** Ids of the finished steps, in order. */
  done: z.array(z.string()),
  /** Identity of the plan (hash of its step ids and inputs): a checkpoint of another plan is not resumed. */
  plan: z.string().optional(),
  updatedAt: z.string().optional(),
});
export type CheckpointState = z.infer<typeof checkpointSchema>;

export interface Checkpoint {
  load(signal: AbortSignal): Promise<CheckpointState | undefined>;
  save(state: CheckpointState, signal: AbortSignal): Promise<void>;
}

export class StoreCheckpoint implements Checkpoint {
  readonly #store: Store;
  readonly #key: string;
  /** Mod revision of what this runner last read or wrote; 0 = the key must not exist. */
  #revision = 0;

  constructor(store: Store, keys: Keys, machine: string) {
    this.#store = store;
    this.#key = keys.plan(machine);
  }

  async load(signal: AbortSignal): Promise<CheckpointState | undefined> {
    const kv = await this.#store.get(this.#key, { signal });
    this.#revision = kv?.modRevision ?? 0;
    return kv ? decode(checkpointSchema, kv) : undefined;
  }

  async save(state: CheckpointState, signal: AbortSignal): Promise<void> {
    const value = encode(checkpointSchema.parse({ ...state, updatedAt: new Date().toISOString() }));
    const r = await this.#store.txn([{ key: this.#key, modRevision: this.#revision }], [{ type: 'put', key: this.#key, value }], { signal });
    if (!r.succeeded) {
      throw new LpmosError(ErrorCode.Conflict, `the install plan of this machine (${this.#key}) was changed by someone else — another agent for the same machine? Stopping here.`);
    }
    this.#revision = r.revision;
  }
}
