// `lpmos apply -f FILE…`: profiles and machines in any mix, all or nothing.
import type { Command } from 'commander';
import { applyDocuments } from '../../core/registry/apply.ts';
import { withContext } from '../context.ts';
import { collect, loadDocuments } from '../documents.ts';
import { outputOption, print, type OutputFormat } from '../output.ts';

export async function runApply(cmd: Command, files: string[], output: OutputFormat, only?: 'Profile' | 'Machine'): Promise<void> {
  const docs = await loadDocuments(files, only);
  const results = await withContext(cmd, (ctx) => applyDocuments(ctx.store, ctx.keys, docs, ctx.maxTxnOps ? { maxTxnOps: ctx.maxTxnOps } : {}));
  print(output, results, () => results.map((r) => `${r.kind.toLowerCase()}/${r.name} ${r.result}\n`).join(''));
}

export function registerApplyCommand(program: Command): void {
  program
    .command('apply')
    .description('create or update profiles and machines from YAML or JSON documents (all or nothing)')
    .requiredOption('-f, --filename <file>', 'file with one or many documents (- for stdin); repeatable', collect)
    .addOption(outputOption())
    .action(async (opts: { filename: string[]; output: OutputFormat }, cmd: Command) => runApply(cmd, opts.filename, opts.output));
}
