// The install runner: walks the plan's steps in order, skips what is finished, records each
// finished step in the checkpoint before starting the next, and reports every step's start,
// progress, end or failure. After a restart it resumes behind the last finished step; steps
// whose effect lives in the running kernel (mounts, assembled arrays) are re-checked and redone.
import { createHash } from 'node:crypto';
import { formatError, isLpmosError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { silentLogger } from '../core/log.ts';
import type { Checkpoint, CheckpointState } from './checkpoint.ts';
import type { StepProgress } from './executor.ts';
import type { Check, Facts, Step } from './plan/types.ts';

export interface ProgressEvent {
  step: string;
  state: 'start' | 'progress' | 'done' | 'failed';
  percent?: number;
  bytes?: number;
  message?: string;
}

/** What the runner needs from the machine (LocalExecutor; a recording fake in unit tests). */
export interface StepExecutor {
  check(c: Check, signal: AbortSignal): Promise<boolean>;
  runStep(step: Step, facts: Facts, signal: AbortSignal, progress: (p: StepProgress) => void): Promise<void>;
}

export interface RunnerOptions {
  steps: Step[];
  executor: StepExecutor;
  checkpoint: Checkpoint;
  /** Facts for the steps that need them (UUIDs after mkfs); asked before each step that builds from facts. */
  facts: (signal: AbortSignal) => Promise<Facts>;
  onProgress?: (e: ProgressEvent) => void;
  log?: Logger;
}

export interface RunResult {
  /** Steps that ran now. */
  ran: string[];
  /** Steps found finished (checkpoint or check). */
  skipped: string[];
}

/** Identity of a plan: its step ids and titles (which name devices and sizes). */
export function planId(steps: Step[]): string {
  return createHash('sha256').update(JSON.stringify(steps.map((s) => [s.id, s.title]))).digest('hex').slice(0, 16);
}

const NEEDS_FACTS = new Set<Step['kind']>(['configure', 'bootloader']);

export async function runPlan(opts: RunnerOptions, signal: AbortSignal): Promise<RunResult> {
  const { steps, executor, checkpoint } = opts;
  const log = opts.log ?? silentLogger();
  const emit = (e: ProgressEvent): void => {
    try {
      opts.onProgress?.(e);
    } catch (err) {
      log.warn({ err }, 'progress listener failed'); // a listener never stops an install
    }
  };
  const id = planId(steps);
  const saved = await checkpoint.load(signal);
  // A checkpoint of another plan (profile or disks changed) is not resumed: start over, and let
  // check-disks decide whether the disks may be written.
  const resumable = saved && (saved.plan === undefined || saved.plan === id) ? saved : undefined;
  if (saved && !resumable) log.warn({ saved: saved.plan, plan: id }, 'checkpoint belongs to another plan: starting over');
  const done = new Set(resumable?.done ?? []);
  const state = (step: string): CheckpointState => ({ step, done: steps.map((s) => s.id).filter((s) => done.has(s)), plan: id });
  const result: RunResult = { ran: [], skipped: [] };
  if (done.has('done')) {
    log.info({ plan: id }, 'plan already finished');
    return { ran: [], skipped: steps.map((s) => s.id) };
  }

  for (const step of steps) {
    signal.throwIfAborted();
    let finished = false;
    if (done.has(step.id)) finished = !step.volatile || (step.check !== undefined && (await executor.check(step.check, signal)));
    else if (step.check) finished = await executor.check(step.check, signal);
    if (finished) {
      result.skipped.push(step.id);
      if (!done.has(step.id)) {
        done.add(step.id);
        await checkpoint.save(state(step.id), signal);
      }
      emit({ step: step.id, state: 'done', percent: 100, message: `${step.title}: already done` });
      continue;
    }

    done.delete(step.id);
    await checkpoint.save(state(step.id), signal);
    emit({ step: step.id, state: 'start', percent: 0, message: step.title });
    log.info({ step: step.id }, step.title);
    try {
      const facts = NEEDS_FACTS.has(step.kind) ? await opts.facts(signal) : { uuids: {}, efivars: false };
      await executor.runStep(step, facts, signal, (p) => emit({ step: step.id, state: 'progress', ...p }));
    } catch (e) {
      const message = signal.aborted ? `stopped: ${formatError(signal.reason)}` : formatError(e);
      emit({ step: step.id, state: 'failed', message });
      log.error({ step: step.id, code: isLpmosError(e) ? e.code : undefined }, message);
      throw e;
    }
    done.add(step.id);
    await checkpoint.save(state(step.id), signal);
    result.ran.push(step.id);
    emit({ step: step.id, state: 'done', percent: 100 });
  }
  return result;
}
