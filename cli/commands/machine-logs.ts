// `lpmos machine logs NAME`: a machine's progress history (`logs/<id>/`, written by the seed's
// progress collector), oldest first; `--follow` keeps printing new entries. Attached to the
// `machine` command group from here (cli/commands/machine.ts belongs to another file owner).
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import type { Keys } from '../../core/keys.ts';
import type { KeyValue, Store } from '../../core/store/store.ts';
import { logEntrySchema, type LogEntry } from '../../swarm/progress/fold.ts';
import { openContext } from '../context.ts';
import { renderTable, type Column } from '../output.ts';

function parseEntry(kv: KeyValue | { key: string; value: string }): LogEntry | undefined {
  try {
    const r = logEntrySchema.safeParse(JSON.parse(kv.value));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export async function readMachineLog(store: Store, keys: Keys, name: string, signal?: AbortSignal): Promise<{ entries: LogEntry[]; revision: number }> {
  const [identity, { kvs, revision }] = await Promise.all([store.get(keys.machine(name), signal ? { signal } : undefined), store.list(keys.machineLogs(name), signal ? { signal } : undefined)]);
  if (!identity && kvs.length === 0) throw new LpmosError(ErrorCode.NotFound, `machine "${name}" not found`);
  return { entries: kvs.map(parseEntry).filter((e): e is LogEntry => e !== undefined), revision };
}

const columns: Column<LogEntry>[] = [
  { header: 'TIME', get: (e) => e.time },
  { header: 'SEQ', get: (e) => e.seq },
  { header: 'STEP', get: (e) => e.step },
  { header: 'STATE', get: (e) => e.state },
  { header: 'PROGRESS', get: (e) => (e.percent !== undefined ? `${Math.round(e.percent)}%` : undefined) },
  { header: 'MESSAGE', get: (e) => (e.code ? `${e.code}: ${e.message ?? ''}` : e.message) },
];

function line(e: LogEntry): string {
  return renderTable([e], columns).split('\n')[1] ?? '';
}

export function registerMachineLogsCommand(machine: Command): void {
  machine
    .command('logs')
    .description('show a machine\'s progress history (the last 500 entries the seed kept)')
    .argument('<name>', 'machine name')
    .addOption(new Option('-o, --output <format>', 'output format (json with --follow: one JSON line per entry)').choices(['table', 'json', 'yaml']).default('table'))
    .option('--tail <n>', 'only the last n entries', (v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0) throw new LpmosError(ErrorCode.Usage, `--tail "${v}": expected a whole number`);
      return n;
    })
    .option('-f, --follow', 'keep printing new entries (Ctrl-C to stop)')
    .action(async (name: string, opts: { output: 'table' | 'json' | 'yaml'; tail?: number; follow?: boolean }, cmd: Command) => {
      const ctx = await openContext(cmd);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const { entries: all, revision } = await readMachineLog(ctx.store, ctx.keys, name);
        const entries = opts.tail !== undefined ? all.slice(Math.max(0, all.length - opts.tail)) : all;
        if (opts.follow && opts.output === 'json') for (const e of entries) process.stdout.write(`${JSON.stringify(e)}\n`);
        else if (opts.output === 'json') process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
        else if (opts.output === 'yaml') process.stdout.write(stringify(entries));
        else process.stdout.write(renderTable(entries, columns));
        if (!opts.follow) return;
        for await (const ev of ctx.store.watch(ctx.keys.machineLogs(name), { fromRevision: revision + 1, signal: stop.signal })) {
          if (ev.type !== 'put' || ev.value === undefined) continue;
          const e = parseEntry({ key: ev.key, value: ev.value });
          if (!e) continue;
          process.stdout.write(opts.output === 'json' ? `${JSON.stringify(e)}\n` : opts.output === 'yaml' ? `---\n${stringify(e)}` : `${line(e)}\n`);
        }
      } catch (e) {
        if (!stop.signal.aborted) throw e;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await ctx.close();
      }
    });
}

/** Adds `logs` to the program's `machine` group (call after that group is registered). */
export function attachMachineLogs(program: Command): void {
  const machine = program.commands.find((c) => c.name() === 'machine');
  if (!machine) throw new Error('the machine command group must be registered before machine logs');
  registerMachineLogsCommand(machine);
}
