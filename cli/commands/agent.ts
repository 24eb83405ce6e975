// `lpmos agent`: what the ramdisk's init starts on a booted machine.
import type { Command } from 'commander';

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the agent (on a machine booted from the LPMOS ramdisk): report inventory, follow the machine\'s spec')
    .option('--cmdline <text>', 'kernel command line to read settings from (default: /proc/cmdline)')
    .addHelpText('after', '\nSettings on the kernel command line: lpmos.seed=URL lpmos.etcd=URL[,URL] lpmos.site=NAME lpmos.prefix=/lpmos/\nlpmos.machine=NAME lpmos.bootstrap=MULTIADDR[,…] BOOTIF=01-aa-bb-cc-dd-ee-ff')
    .action(async (opts: { cmdline?: string }) => {
      const { runFromCmdline } = await import('../../agent/main.ts');
      process.exitCode = await runFromCmdline(opts.cmdline);
    });
}
