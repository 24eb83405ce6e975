// `lpmos watch`: every machine with a live progress bar and its current step, from etcd status
// (a list, then a watch from its revision), so it works from any operator machine. `-o json`
// streams one JSON line per machine and per change instead; `--once` prints the current state
// and exits (scripts, tests).
import { Option, type Command } from 'commander';
import { isLpmosError } from '../../core/errors.ts';
import type { Keys } from '../../core/keys.ts';
import { statusSchema, type Status } from '../../core/model/status.ts';
import type { Store } from '../../core/store/store.ts';
import { openContext } from '../context.ts';
import { ProgressView } from '../progress-view.ts';

export interface MachineProgress {
  machine: string;
  state: string;
  step?: string;
  progress?: number;
  error?: string;
  updatedAt?: string;
}

export function toProgress(machine: string, status: Status | undefined): MachineProgress {
  if (!status) return { machine, state: 'registered' };
  return {
    machine,
    state: status.state,
    ...(status.step !== undefined ? { step: status.step } : {}),
    ...(status.progress !== undefined ? { progress: status.progress } : {}),
    ...(status.lastError ? { error: `${status.lastError.code}: ${status.lastError.message}` } : {}),
    updatedAt: status.updatedAt,
  };
}

function parseStatus(value: string): Status | undefined {
  try {
    const r = statusSchema.safeParse(JSON.parse(value));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** A change under machines/: a status written (or a machine added/removed). */
type Change = { type: 'set'; row: MachineProgress } | { type: 'remove'; machine: string };

/** Current rows and every later change, until the signal aborts; a compacted watch lists again. */
async function follow(store: Store, keys: Keys, signal: AbortSignal, onRows: (rows: MachineProgress[]) => void, onChange: (c: Change) => void): Promise<void> {
  for (;;) {
    const { kvs, revision } = await store.list(keys.machines(), { signal });
    const statuses = new Map<string, Status | undefined>();
    for (const kv of kvs) {
      const k = keys.parseMachineKey(kv.key);
      if (k?.part === 'identity' && !statuses.has(k.id)) statuses.set(k.id, undefined);
      if (k?.part === 'status') statuses.set(k.id, parseStatus(kv.value));
    }
    onRows([...statuses].map(([id, s]) => toProgress(id, s)));
    try {
      for await (const ev of store.watch(keys.machines(), { fromRevision: revision + 1, signal })) {
        const k = keys.parseMachineKey(ev.key);
        if (!k) continue;
        if (k.part === 'status' && ev.type === 'put' && ev.value !== undefined) {
          const st = parseStatus(ev.value);
          statuses.set(k.id, st);
          onChange({ type: 'set', row: toProgress(k.id, st) });
        } else if (k.part === 'identity' && ev.type === 'put' && !statuses.has(k.id)) {
          statuses.set(k.id, undefined);
          onChange({ type: 'set', row: toProgress(k.id, undefined) });
        } else if (k.part === 'identity' && ev.type === 'delete') {
          statuses.delete(k.id);
          onChange({ type: 'remove', machine: k.id });
        }
      }
      return;
    } catch (e) {
      if (signal.aborted) return;
      if (!isLpmosError(e, 'E_COMPACTED')) throw e;
    }
  }
}

export function registerWatchCommand(program: Command): void {
  program
    .command('watch')
    .description('show every machine with a live progress bar and its current step (Ctrl-C to stop)')
    .addOption(new Option('-o, --output <format>', 'output: bars for people, JSON lines for scripts').choices(['table', 'json']).default('table'))
    .option('--once', 'print the current state and exit')
    .action(async (opts: { output: 'table' | 'json'; once?: boolean }, cmd: Command) => {
      const ctx = await openContext(cmd);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const view = opts.output === 'table' ? new ProgressView({ bars: process.stdout.isTTY && !opts.once }) : undefined;
      const show = (row: MachineProgress) => {
        if (view) view.show(row);
        else process.stdout.write(`${JSON.stringify(row)}\n`);
      };
      try {
        await follow(
          ctx.store,
          ctx.keys,
          stop.signal,
          (current) => {
            view?.reserve(current.map((r) => r.machine));
            for (const r of current.sort((a, b) => a.machine.localeCompare(b.machine))) show(r);
            if (opts.once) stop.abort();
          },
          (c) => {
            if (c.type === 'set') show(c.row);
            else {
              view?.remove(c.machine);
              if (opts.output === 'json') process.stdout.write(`${JSON.stringify({ machine: c.machine, state: 'deleted' })}\n`);
            }
          },
        );
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        view?.stop();
        await ctx.close();
      }
    });
}
