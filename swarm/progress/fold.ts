// How progress events become etcd state (pure): the machine's status, and which events enter its
// history. Percent ticks update the status but only some enter the history (the first of a step,
// every 10 %, those with a message), so the bounded log keeps the install's story, not its ticks.
// `complete` means installed, not yet booted: the machine stays `provisioning` at step `reboot`
// until the installed system's first-boot report (seed/http/routes/firstboot.ts) makes it
// `provisioned`.
import { z } from 'zod';
import type { Status } from '../../core/model/status.ts';
import type { StatusChange } from '../../core/registry/status.ts';
import { progressEventSchema, type ProgressEvent } from './event.ts';

/** The step a machine shows between the installer's `complete` and the first-boot report. */
export const REBOOT_STEP = 'reboot';

/** Status for the latest event of a batch. */
export function statusFor(ev: ProgressEvent): StatusChange {
  switch (ev.state) {
    case 'running':
      // progress is set explicitly (undefined too): updateStatus keeps the old fields otherwise.
      return { state: 'provisioning', step: ev.step, progress: ev.percent };
    case 'done':
      return { state: 'provisioning', step: ev.step, progress: 100 };
    case 'failed':
      return { state: 'failed', step: ev.step, progress: ev.percent, lastError: { code: ev.code ?? 'E_INSTALL', message: ev.message ?? `step ${ev.step} failed`, at: ev.time } };
    case 'complete':
      return { state: 'provisioning', step: REBOOT_STEP, progress: 100 };
  }
}

/**
 * The status change for the latest event given what is stored (undefined: leave it). A `complete`
 * resent after the first-boot report (the agent resends what was not acknowledged) must not take
 * a booted machine back to `provisioning`.
 */
export function statusAfter(current: Status | undefined, ev: ProgressEvent): StatusChange | undefined {
  if (ev.state === 'complete' && current?.state === 'provisioned') return undefined;
  return statusFor(ev);
}

/**
 * Whether a batch (in seq order) finishes the install: its last terminal event (`complete` or
 * `failed`) is `complete`. Then the seed sets the spec to `localboot`.
 */
export function installFinished(batch: readonly ProgressEvent[]): boolean {
  for (let i = batch.length - 1; i >= 0; i--) {
    const s = batch[i]?.state;
    if (s === 'complete') return true;
    if (s === 'failed') return false;
  }
  return false;
}

export function shouldLog(lastLogged: ProgressEvent | undefined, ev: ProgressEvent): boolean {
  if (ev.state !== 'running' || ev.message !== undefined) return true;
  if (!lastLogged || lastLogged.step !== ev.step || lastLogged.state !== 'running') return true;
  if (ev.percent === undefined) return false;
  return Math.floor(ev.percent / 10) !== Math.floor((lastLogged.percent ?? 0) / 10);
}

/** `progress/<machine>`: the highest seq folded into etcd (the publisher's acknowledgement). */
export const progressAckSchema = z.strictObject({ seq: z.number().int().min(0), peerId: z.string(), at: z.string() });
export type ProgressAck = z.infer<typeof progressAckSchema>;

/** A history entry is the event as received, plus who sent it. */
export const logEntrySchema = progressEventSchema.extend({ peerId: z.string() });
export type LogEntry = z.infer<typeof logEntrySchema>;
