// The agent's entry to installing: profile + inventory disks + spec → selected disks → resolved
// layout → steps → the runner on this machine, checkpointed at machines/<id>/plan. A layout that
// does not fit, or disks that cannot be found, fail here before anything is written.
import type { Keys } from '../core/keys.ts';
import type { Logger } from '../core/log.ts';
import type { Disk } from '../core/model/inventory.ts';
import type { Profile } from '../core/model/profile.ts';
import type { Store } from '../core/store/store.ts';
import { StoreCheckpoint, type Checkpoint } from './checkpoint.ts';
import type { RootImageSource } from './debian/root-image.ts';
import { LocalExecutor } from './executor.ts';
import { selectDisks } from './plan/disks.ts';
import { resolveLayout, type Layout } from './plan/layout.ts';
import { buildSteps } from './plan/steps.ts';
import type { InstallSpec, Step } from './plan/types.ts';
import { runPlan, type ProgressEvent, type RunResult } from './runner.ts';

export interface InstallPlan { layout: Layout; steps: Step[] }

/**
 * Pure: the plan for this machine. `disks` is the inventory (disks chosen by the profile's hints)
 * or, already chosen, a map from the layout's disk ids to disks.
 */
export function planInstall(profile: Profile, disks: Disk[] | Map<string, Disk>, spec: InstallSpec): InstallPlan {
  const chosen = disks instanceof Map ? disks : selectDisks(profile.storage.disks, disks);
  const layout = resolveLayout(profile.storage, chosen);
  return { layout, steps: buildSteps(profile, layout, spec) };
}

export interface InstallOptions {
  store: Store;
  keys: Keys;
  plan: InstallPlan;
  spec: InstallSpec;
  signal: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  log?: Logger;
  /** Default: the Store at machines/<spec.machine>/plan. */
  checkpoint?: Checkpoint;
  /** Roots built by the seed (needed when the plan unpacks one: spec.rootImages). */
  images?: RootImageSource;
}

export async function install(opts: InstallOptions): Promise<RunResult> {
  const executor = new LocalExecutor({ target: opts.spec.target, ...(opts.log ? { log: opts.log } : {}), ...(opts.images ? { images: opts.images } : {}) });
  return runPlan({
    steps: opts.plan.steps,
    executor,
    checkpoint: opts.checkpoint ?? new StoreCheckpoint(opts.store, opts.keys, opts.spec.machine),
    facts: (signal) => executor.facts(opts.plan.layout, signal),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  }, opts.signal);
}
