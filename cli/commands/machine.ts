// `lpmos machine add|list|show|assign|delete`.
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { nameFromMac, normalizeMac } from '../../core/model/index.ts';
import { ACTIONS, type Action } from '../../core/model/spec.ts';
import { addMachine, assignMachine, deleteMachine, getMachine, listMachines, type MachineView } from '../../core/registry/machines.ts';
import { decodeSwarmMetrics } from '../../swarm/metrics-record.ts';
import { withContext } from '../context.ts';
import { collect } from '../documents.ts';
import { outputOption, print, type OutputFormat } from '../output.ts';

function parseLabels(pairs: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new LpmosError(ErrorCode.Usage, `--label "${p}": expected key=value`);
    labels[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return labels;
}

/** The shape scripts get from `-o json|yaml`. */
function toDocument(v: MachineView): Record<string, unknown> {
  return { ...v.machine, spec: v.spec, status: v.status, ...(v.inventory !== undefined ? { inventory: v.inventory } : {}) };
}

function progress(v: MachineView): string | undefined {
  const s = v.status;
  if (!s?.step) return undefined;
  return s.progress !== undefined ? `${s.step} ${Math.round(s.progress)}%` : s.step;
}

export function registerMachineCommands(program: Command): void {
  const machine = program.command('machine').description('manage machines: identity, spec (what to do), status');

  machine
    .command('add')
    .description('register a machine by its MAC address(es)')
    .requiredOption('--mac <mac>', 'MAC address (aa:bb:cc:dd:ee:ff); repeatable for several NICs', collect)
    .option('--name <name>', 'machine name (default: m-<first MAC without colons>)')
    .option('--serial <serial>', 'system serial number')
    .option('--uuid <uuid>', 'SMBIOS system UUID')
    .option('--ip <ipv4>', 'fixed IPv4 address (DHCP reservation)')
    .option('--label <key=value>', 'label (site, rack, role, …); repeatable', collect, [])
    .addOption(outputOption())
    .action(async (opts: { mac: string[]; name?: string; serial?: string; uuid?: string; ip?: string; label: string[]; output: OutputFormat }, cmd: Command) => {
      const first = normalizeMac(opts.mac[0] ?? '');
      const name = opts.name ?? (first ? nameFromMac(first) : 'unnamed');
      const m = await withContext(cmd, (ctx) =>
        addMachine(ctx.store, ctx.keys, {
          name,
          macs: opts.mac,
          labels: parseLabels(opts.label),
          ...(opts.serial ? { serial: opts.serial } : {}),
          ...(opts.uuid ? { uuid: opts.uuid } : {}),
          ...(opts.ip ? { ipv4: opts.ip } : {}),
        }),
      );
      print(opts.output, m, () => `machine/${m.name} created\n`);
    });

  machine
    .command('list')
    .description('list machines with their state')
    .option('-l, --selector <key=value>', 'only machines with this label; repeatable', collect, [])
    .addOption(outputOption())
    .action(async (opts: { selector: string[]; output: OutputFormat }, cmd: Command) => {
      const want = Object.entries(parseLabels(opts.selector));
      const all = await withContext(cmd, (ctx) => listMachines(ctx.store, ctx.keys));
      const views = all.filter((v) => want.every(([k, val]) => v.machine.labels[k] === val));
      print<MachineView>(opts.output, views.map(toDocument), {
        rows: views,
        columns: [
          { header: 'NAME', get: (v) => v.machine.name },
          { header: 'MAC', get: (v) => v.machine.macs.join(',') },
          { header: 'STATE', get: (v) => v.status?.state ?? 'registered' },
          { header: 'ACTION', get: (v) => v.spec?.action },
          { header: 'PROFILE', get: (v) => v.spec?.profile },
          { header: 'PROGRESS', get: progress },
          { header: 'LABELS', get: (v) => Object.entries(v.machine.labels).map(([k, val]) => `${k}=${val}`).join(',') || undefined },
        ],
      });
    });

  machine
    .command('show')
    .description('show one machine: identity, spec, status, inventory and swarm bytes')
    .argument('<name>', 'machine name')
    .addOption(outputOption().default('yaml'))
    .action(async (name: string, opts: { output: OutputFormat }, cmd: Command) => {
      const { v, swarm } = await withContext(cmd, async (ctx) => {
        const view = await getMachine(ctx.store, ctx.keys, name);
        // The agent's swarm counters (bytes from the seed, from peers, served), when it wrote any.
        const kv = await ctx.store.get(ctx.keys.swarmMetrics(name));
        return { v: view, swarm: kv ? decodeSwarmMetrics(kv.value) : undefined };
      });
      const doc = { ...toDocument(v), ...(swarm ? { swarm } : {}) };
      print(opts.output, doc, () => stringify(doc));
    });

  machine
    .command('assign')
    .description('set what a machine should do: its profile and action (compare-and-swap: a concurrent change fails)')
    .argument('<name>', 'machine name')
    .option('--profile <profile>', 'install profile')
    .addOption(new Option('--action <action>', 'action').choices([...ACTIONS]).default('install'))
    .addOption(outputOption())
    .action(async (name: string, opts: { profile?: string; action: Action; output: OutputFormat }, cmd: Command) => {
      const spec = await withContext(cmd, (ctx) => assignMachine(ctx.store, ctx.keys, name, { action: opts.action, ...(opts.profile ? { profile: opts.profile } : {}) }));
      print(opts.output, spec, () => `machine/${name} assigned: action=${spec.action}${spec.profile ? ` profile=${spec.profile}` : ''}\n`);
    });

  machine
    .command('delete')
    .description('delete a machine and everything recorded about it')
    .argument('<name>', 'machine name')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withContext(cmd, (ctx) => deleteMachine(ctx.store, ctx.keys, name));
      process.stdout.write(`machine/${name} deleted\n`);
    });
}
