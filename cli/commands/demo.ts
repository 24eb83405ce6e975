// `lpmos demo`: the main job of README command 1. Starts a seed with its own etcd, applies the
// sample profiles and machines from examples/, shows them, and keeps running until Ctrl-C
// (or exits right away with --exit, for scripts). Later releases grow it into a lab rack of VMs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseObjects, validateDocuments } from '../../core/model/documents.ts';
import { applyDocuments } from '../../core/registry/apply.ts';
import { listMachines } from '../../core/registry/machines.ts';
import { renderTable } from '../output.ts';
import { runSeed } from './seed.ts';

const EXAMPLES = new URL('../../examples/', import.meta.url).pathname;

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a seed with its own etcd and sample profiles and machines applied')
    .option('--exit', 'stop the seed after showing the result (default: run until Ctrl-C)')
    .action(async (opts: { exit?: boolean }, cmd: Command) => {
      await runSeed(cmd, async (seed) => {
        for (const f of ['profile-debian12-minimal.yaml', 'machines.yaml']) {
          const path = join(EXAMPLES, f);
          const docs = validateDocuments(parseObjects(await readFile(path, 'utf8'), path), `examples/${f}`);
          for (const r of await applyDocuments(seed.store, seed.keys, docs)) process.stdout.write(`${r.kind.toLowerCase()}/${r.name} ${r.result}\n`);
        }
        const views = await listMachines(seed.store, seed.keys);
        process.stdout.write('\n' + renderTable(views, [
          { header: 'NAME', get: (v) => v.machine.name },
          { header: 'MAC', get: (v) => v.machine.macs.join(',') },
          { header: 'ACTION', get: (v) => v.spec?.action },
          { header: 'PROFILE', get: (v) => v.spec?.profile },
        ]));
        const sd = ` --state-dir ${seed.config.stateDir}`;
        process.stdout.write(`
The seed is running with its own etcd (${seed.etcdEndpoints.join(', ')}), state in ${seed.config.stateDir}.
From another shell in this directory:
  npx lpmos${sd} machine list
  npx lpmos${sd} machine list -o json
  npx lpmos${sd} machine show rack1-node01
  npx lpmos${sd} machine add --mac 52:54:00:13:00:09 --label rack=r1
  npx lpmos${sd} machine assign m-525400130009 --profile debian12-minimal
  npx lpmos${sd} profile show debian12-raid1-lvm
  npx lpmos --help
(If your system Node.js is older than 22, npx still works: the launcher hands over to Node 24 from the setup.)
${opts.exit ? '' : 'Press Ctrl-C to stop the seed.\n'}`);
        if (opts.exit) process.kill(process.pid, 'SIGTERM');
      });
    });
}
