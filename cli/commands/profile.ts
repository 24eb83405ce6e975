// `lpmos profile apply|list|show|delete`.
import type { Command } from 'commander';
import { deleteProfile, getProfile, listProfiles } from '../../core/registry/profiles.ts';
import type { Profile } from '../../core/model/profile.ts';
import { withContext } from '../context.ts';
import { collect } from '../documents.ts';
import { outputOption, print, type OutputFormat } from '../output.ts';
import { runApply } from './apply.ts';
import { stringify } from 'yaml';

export function registerProfileCommands(program: Command): void {
  const profile = program.command('profile').description('manage install profiles');

  profile
    .command('apply')
    .description('create or update profiles from YAML or JSON (one or many documents; all or nothing)')
    .requiredOption('-f, --filename <file>', 'file with one or many Profile documents (- for stdin); repeatable', collect)
    .addOption(outputOption())
    .action(async (opts: { filename: string[]; output: OutputFormat }, cmd: Command) => runApply(cmd, opts.filename, opts.output, 'Profile'));

  profile
    .command('list')
    .description('list profiles')
    .addOption(outputOption())
    .action(async (opts: { output: OutputFormat }, cmd: Command) => {
      const profiles = await withContext(cmd, (ctx) => listProfiles(ctx.store, ctx.keys));
      print<Profile>(opts.output, profiles, {
        rows: profiles,
        columns: [
          { header: 'NAME', get: (p) => p.name },
          { header: 'OS', get: (p) => `${p.os.name} ${p.os.version}` },
          { header: 'METHOD', get: (p) => p.method },
          { header: 'DISKS', get: (p) => p.storage.disks.length },
          { header: 'RAID', get: (p) => p.storage.raid.map((r) => `${r.id}:raid${r.level}`).join(',') || '-' },
          { header: 'DESCRIPTION', get: (p) => p.description },
        ],
      });
    });

  profile
    .command('show')
    .description('show one profile')
    .argument('<name>', 'profile name')
    .addOption(outputOption().default('yaml'))
    .action(async (name: string, opts: { output: OutputFormat }, cmd: Command) => {
      const p = await withContext(cmd, (ctx) => getProfile(ctx.store, ctx.keys, name));
      print(opts.output, p.value, () => stringify(p.value));
    });

  profile
    .command('delete')
    .description('delete a profile that no machine uses')
    .argument('<name>', 'profile name')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withContext(cmd, (ctx) => deleteProfile(ctx.store, ctx.keys, name));
      process.stdout.write(`profile/${name} deleted\n`);
    });
}
