// `lpmos`: the operator's CLI (kubectl-like). Each command group registers itself from cli/commands/.
import { Command, CommanderError } from 'commander';
import { exitCodes, formatError, isLpmosError, ErrorCode } from '../core/errors.ts';
import { registerCommands } from './commands/index.ts';

export function buildProgram(): Command {
  const program = new Command('lpmos')
    .description('LPMOS: agent-first, peer-to-peer bare-metal installer')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `
Exit codes: 0 ok, 1 internal error, 2 usage, 3 invalid input, 4 not found, 5 conflict/duplicate,
            6 store unavailable, 7 timeout.
Environment: LPMOS_ETCD, LPMOS_STATE_DIR, LPMOS_SITE, LPMOS_PREFIX, LPMOS_LOG_FORMAT, LPMOS_LOG_LEVEL.`);
  program.exitOverride();
  registerCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    // Long-running commands (seed, agent) report their own outcome through process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return exitCodes[ErrorCode.Usage];
    }
    process.stderr.write(`lpmos: ${formatError(e)}\n`);
    if (!isLpmosError(e) && process.env.LPMOS_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return isLpmosError(e) ? exitCodes[e.code] : 1;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
