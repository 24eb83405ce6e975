// The agent acting on its spec (DESIGN §1, issue 6): `install` plans from the profile and the inventory
// and runs the plan in the background, every step reported as progress; a plan that does not fit the
// disks is refused before anything is written and reported as `failed`. `localboot` (which the seed
// sets once the install is complete) stops what runs, lets the progress drain and reboots the machine
// into its disk. Any other action stops a running install (the operator changed their mind).
import { ErrorCode, formatError, isLpmosError, LpmosError } from '../core/errors.ts';
import type { Keys } from '../core/keys.ts';
import type { Logger } from '../core/log.ts';
import type { Inventory } from '../core/model/inventory.ts';
import type { Spec } from '../core/model/spec.ts';
import { getProfile } from '../core/registry/profiles.ts';
import type { Store } from '../core/store/store.ts';
import { install, planInstall, type InstallOptions } from '../installers/install.ts';
import type { RunResult } from '../installers/runner.ts';
import type { RootImageSource } from '../installers/debian/root-image.ts';
import type { ProgressInput } from '../swarm/progress/publisher.ts';
import { buildInstallSpec, clip, toProgress, type InstallContext } from './install-spec.ts';

/** Where progress goes: the swarm reporter (swarm/agent-swarm.ts) in the agent. */
export interface ProgressSink {
  report(input: ProgressInput): void;
  /** Waits (≤ ms) until the seed acknowledged everything reported; true when it did. */
  drain(ms: number): Promise<boolean>;
}

export interface SpecFollowerDeps {
  store: Store;
  keys: Keys;
  logger: Logger;
  inventory: Inventory;
  context: InstallContext;
  progress: ProgressSink;
  /** Reboots the machine (the ramdisk's sysrq reboot); never returns in the real agent. */
  reboot: () => Promise<void>;
  /** Set when this process must not write disks (not the ramdisk's agent): installs fail with it. */
  refuseInstall?: string;
  /** Roots built by the seed (context.rootImages says the plan may use them). */
  images?: RootImageSource;
  /** Default: installers/install.ts install (tests may count or slow it). */
  runInstall?: (opts: InstallOptions) => Promise<RunResult>;
}

interface Running {
  key: string;
  abort: AbortController;
  done: Promise<void>;
}

export class SpecFollower {
  readonly #d: SpecFollowerDeps;
  #running: Running | undefined;
  #rebooting = false;

  constructor(deps: SpecFollowerDeps) {
    this.#d = deps;
  }

  /** The install under way (for tests and shutdown), resolved when it ends either way. */
  get installing(): Promise<void> | undefined {
    return this.#running?.done;
  }

  async onSpec(spec: Spec | undefined): Promise<void> {
    if (this.#rebooting) return;
    const log = this.#d.logger;
    switch (spec?.action) {
      case 'install': {
        const key = JSON.stringify([spec.profile, spec.overrides ?? {}]);
        if (this.#running?.key === key) return; // the same install, e.g. a spec rewritten with a new updatedAt
        await this.stop('the spec changed');
        this.#start(key, spec);
        return;
      }
      case 'localboot':
        await this.stop('the machine boots from its disk now');
        this.#rebooting = true;
        log.info({ machine: this.#d.context.machine }, 'spec says localboot: rebooting into the installed system');
        await this.#d.progress.drain(10_000);
        await this.#d.reboot();
        return;
      default:
        if (this.#running) await this.stop(`the spec's action is now ${spec?.action ?? 'unset'}`);
    }
  }

  /** Stops a running install and waits until its commands ended. */
  async stop(reason: string): Promise<void> {
    const r = this.#running;
    if (!r) return;
    this.#d.logger.warn({ reason }, 'stopping the install');
    r.abort.abort(new Error(reason));
    await r.done;
  }

  #start(key: string, spec: Spec): void {
    const abort = new AbortController();
    const running: Running = { key, abort, done: Promise.resolve() };
    running.done = this.#install(spec, abort.signal).finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
    this.#running = running;
  }

  async #install(spec: Spec, signal: AbortSignal): Promise<void> {
    const d = this.#d;
    const log = d.logger.child({ machine: d.context.machine, profile: spec.profile });
    let step = 'plan';
    try {
      d.progress.report({ step, state: 'running', message: `planning with profile ${spec.profile ?? '?'}` });
      if (d.refuseInstall) throw new LpmosError(ErrorCode.Usage, d.refuseInstall);
      if (!spec.profile) throw new Error('unreachable: an install spec has a profile (schema)');
      const profile = (await getProfile(d.store, d.keys, spec.profile)).value;
      const installSpec = buildInstallSpec(d.context, d.inventory, spec, profile);
      // Refusals (no disk matches, the layout does not fit) happen here, before anything is written.
      const plan = planInstall(profile, d.inventory.disks, installSpec);
      const disks = plan.layout.disks.map((x) => x.device).join(', ');
      d.progress.report({ step, state: 'done', percent: 100, message: clip(`${plan.steps.length} steps on ${disks}`) });
      log.info({ steps: plan.steps.length, disks }, 'install plan ready');
      const runInstall = d.runInstall ?? install;
      const result = await runInstall({
        store: d.store, keys: d.keys, plan, spec: installSpec, signal, log, ...(d.images ? { images: d.images } : {}),
        onProgress: (e) => {
          step = toProgress(e).step;
          d.progress.report(toProgress(e));
        },
      });
      d.progress.report({ step: 'done', state: 'complete', percent: 100, message: `installed (${result.ran.length} steps run, ${result.skipped.length} found done)` });
      log.info({ ran: result.ran.length, skipped: result.skipped.length }, 'install complete');
    } catch (e) {
      if (signal.aborted) {
        log.warn({ step, reason: formatError(signal.reason) }, 'install stopped');
        return;
      }
      const code = isLpmosError(e) ? e.code : ErrorCode.Internal;
      log.error({ step, code, err: formatError(e) }, 'install failed');
      d.progress.report({ step, state: 'failed', code, message: clip(formatError(e).replace(/^E_[A-Z_]+: /, '')) });
    }
  }
}
