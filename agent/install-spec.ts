// Pure: what the agent hands the installer for this machine (installers/plan/types.ts InstallSpec),
// from its boot settings, inventory, spec and profile; and how the runner's step events become
// progress events on the swarm (swarm/progress/event.ts).
import { ErrorCode, LpmosError } from '../core/errors.ts';
import type { Inventory } from '../core/model/inventory.ts';
import type { Profile } from '../core/model/profile.ts';
import type { Spec } from '../core/model/spec.ts';
import type { InstallSpec } from '../installers/plan/types.ts';
import type { ProgressEvent as RunnerEvent } from '../installers/runner.ts';
import { MAX_MESSAGE_CHARS } from '../swarm/progress/event.ts';
import type { ProgressInput } from '../swarm/progress/publisher.ts';

export interface InstallContext {
  machine: string;
  /** Seed HTTP base URL (`lpmos.seed=`): the mirror and the first-boot report live there. */
  seedUrl: string;
  bootMac?: string;
  /** Mount point of the new root. */
  target: string;
  /**
   * The agent's apt proxy (agent/apt-proxy.ts), when it runs: `url` stands in for `seedUrl` while
   * installing (debootstrap's mirror), `proxyUrl` is apt's HTTP proxy in the target. The installed
   * system's sources name the seed's mirror either way.
   */
  aptProxy?: { url: string; proxyUrl: string };
  /** The agent can fetch roots the seed builds (agent/root-images.ts). */
  rootImages?: boolean;
}

/** `http://seed:8080` + profile → the seed's apt mirror for that distribution (`/mirror/debian`). */
export function seedMirror(seedUrl: string, profile: Profile): string {
  return `${seedUrl.replace(/\/+$/, '')}/mirror/${profile.os.name === 'ubuntu' ? 'ubuntu' : 'debian'}`;
}

/** The hostname: the spec's override, the profile's, else the machine id (a valid DNS label). */
export function hostnameFor(machine: string, spec: Spec, profile: Profile): string {
  return spec.overrides?.hostname ?? profile.network.hostname ?? machine;
}

export function buildInstallSpec(ctx: InstallContext, inventory: Inventory, spec: Spec, profile: Profile): InstallSpec {
  if (!inventory.bootMode) throw new LpmosError(ErrorCode.Validation, 'the inventory does not say how the machine booted (BIOS or UEFI): cannot choose a boot loader');
  const nic = ctx.bootMac ? inventory.nics.find((n) => n.mac === ctx.bootMac || n.currentMac === ctx.bootMac) : undefined;
  const cmdline = spec.overrides?.kernelCmdline;
  return {
    machine: ctx.machine,
    firmware: inventory.bootMode,
    seedUrl: ctx.seedUrl,
    mirror: seedMirror(ctx.seedUrl, profile),
    ...(ctx.aptProxy ? { installMirror: seedMirror(ctx.aptProxy.url, profile), aptProxy: ctx.aptProxy.proxyUrl } : {}),
    target: ctx.target,
    ...(ctx.rootImages ? { rootImages: true } : {}),
    hostname: hostnameFor(ctx.machine, spec, profile),
    ...(cmdline ? { kernelCmdline: cmdline } : {}),
    ...(ctx.bootMac || nic ? { bootNic: { ...(nic ? { name: nic.name } : {}), ...(ctx.bootMac ? { mac: ctx.bootMac } : {}) } } : {}),
  };
}

/** Step ids as the progress codec allows them (`partition:d0`, `mkfs:vg0/root` → `mkfs:vg0-root`). */
export function progressStep(id: string): string {
  const s = id.toLowerCase().replace(/[^a-z0-9._:-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64);
  return s || 'step';
}

export function clip(message: string): string {
  return message.length <= MAX_MESSAGE_CHARS ? message : `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…`;
}

/** A runner event as a progress event (without code: the caller adds the error's code on failure). */
export function toProgress(e: RunnerEvent): ProgressInput {
  const state = e.state === 'start' || e.state === 'progress' ? 'running' : e.state;
  return {
    step: progressStep(e.step),
    state,
    ...(e.percent !== undefined ? { percent: Math.max(0, Math.min(100, e.percent)) } : {}),
    ...(e.bytes !== undefined ? { bytes: Math.max(0, Math.round(e.bytes)) } : {}),
    ...(e.message ? { message: clip(e.message) } : {}),
  };
}
