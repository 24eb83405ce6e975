// The agent (DESIGN §1), first part: find out which machine it runs on, report the inventory,
// mark the machine `inspected`, then follow its spec in etcd until stopped. The install plan
// runner (issue 6) and the swarm (issue 7) hook in where the spec is acted on.
import type { Logger } from '../core/log.ts';
import type { Keys } from '../core/keys.ts';
import type { Store } from '../core/store/store.ts';
import { inventorySchema, type Inventory } from '../core/model/inventory.ts';
import { specSchema, type Spec } from '../core/model/spec.ts';
import { encode } from '../core/registry/records.ts';
import { updateStatus } from '../core/registry/status.ts';
import { resolveMachine } from './identity.ts';

export interface AgentDeps {
  store: Store;
  keys: Keys;
  logger: Logger;
  collect: (signal: AbortSignal) => Promise<Inventory>;
  /** Called with every spec the machine is given (the plan runner subscribes here). */
  onSpec?: (spec: Spec | undefined) => Promise<void> | void;
  /**
   * Called once the machine is known, before its spec is read: returns the spec handler (the agent's
   * swarm and installer start here, as they need the machine id). Wins over `onSpec`.
   */
  onMachine?: (machine: string, inventory: Inventory) => Promise<(spec: Spec | undefined) => Promise<void> | void>;
}

export interface AgentIdentity {
  machine?: string;
  bootMac?: string;
}

/** States in which a fresh inventory moves the machine to `inspected`. */
const INSPECTABLE = new Set([undefined, 'discovered', 'inspected', 'ready', 'failed']);

export async function reportInventory(deps: AgentDeps, identity: AgentIdentity, signal: AbortSignal): Promise<string> {
  return (await report(deps, identity, signal)).id;
}

async function report(deps: AgentDeps, identity: AgentIdentity, signal: AbortSignal): Promise<{ id: string; inventory: Inventory }> {
  const inventory = inventorySchema.parse(await deps.collect(signal));
  const id = await resolveMachine(deps.store, deps.keys, {
    ...identity,
    ...(inventory.serial ? { serial: inventory.serial } : {}),
    ...(inventory.uuid ? { uuid: inventory.uuid } : {}),
  });
  await deps.store.put(deps.keys.inventory(id), encode(inventory), { signal });
  const status = await updateStatus(deps.store, deps.keys, id, (cur) => (INSPECTABLE.has(cur?.state) ? { state: 'inspected', step: 'inventory' } : undefined));
  deps.logger.info({ machine: id, state: status?.state, disks: inventory.disks.length, nics: inventory.nics.length }, 'inventory reported');
  return { id, inventory };
}

/** Reports, then follows the spec until the signal aborts (a stop at any point after the report is not an error). */
export async function runAgent(deps: AgentDeps, identity: AgentIdentity, signal: AbortSignal): Promise<void> {
  const { id, inventory } = await report(deps, identity, signal);
  try {
    const onSpec = deps.onMachine ? await deps.onMachine(id, inventory) : deps.onSpec;
    const key = deps.keys.spec(id);
    // The store's revision BEFORE the read: a spec put between the two calls is then either read or
    // watched (reading the revision after the get would skip a put that lands in between).
    const before = await deps.store.revision({ signal });
    const first = await deps.store.get(key, { signal });
    const fromRevision = first ? first.modRevision + 1 : before + 1;
    await onSpec?.(first ? specSchema.parse(JSON.parse(first.value)) : undefined);
    for await (const ev of deps.store.watch(key, { signal, fromRevision })) {
      if (ev.key !== key) continue; // the prefix also matches e.g. machines/<id>/spec-old
      const spec = ev.type === 'put' && ev.value ? specSchema.parse(JSON.parse(ev.value)) : undefined;
      deps.logger.info({ machine: id, action: spec?.action, profile: spec?.profile }, 'spec changed');
      await onSpec?.(spec);
    }
  } catch (e) {
    // A stop right after the report (the spec read, the swarm starting) ends here too, not as a failure.
    if (!signal.aborted) throw e;
  }
}
