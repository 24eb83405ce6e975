// The seed's state directory: managed etcd data, and `seed.json`, which tells CLI commands on the
// same host where the running seed's etcd is.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ErrorCode, LpmosError } from '../core/errors.ts';

export function defaultStateDir(): string {
  if (process.getuid?.() === 0) return '/var/lib/lpmos';
  return join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'lpmos');
}

export const seedInfoSchema = z.object({
  pid: z.number().int(),
  site: z.string(),
  prefix: z.string(),
  startedAt: z.string(),
  etcd: z.object({ endpoints: z.array(z.string()).min(1), managed: z.boolean(), maxTxnOps: z.number().int().optional() }),
});
export type SeedInfo = z.infer<typeof seedInfoSchema>;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running seed's info, undefined when none ever ran here; E_UNAVAILABLE when it is not running. */
export async function readSeedInfo(dir: string): Promise<SeedInfo | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'seed.json'), 'utf8');
  } catch {
    return undefined;
  }
  const r = seedInfoSchema.safeParse(JSON.parse(text));
  if (!r.success) throw new LpmosError(ErrorCode.Internal, `${join(dir, 'seed.json')} is not a seed info file`);
  if (r.data.etcd.managed && !alive(r.data.pid)) {
    throw new LpmosError(ErrorCode.Unavailable, `the seed of ${dir} (pid ${r.data.pid}) is not running: start it with \`lpmos seed --state-dir ${dir}\``);
  }
  return r.data;
}

/** Written atomically (temp file + rename): a reader never sees half a file. */
export async function writeSeedInfo(dir: string, info: SeedInfo): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.seed.json.${process.pid}`);
  await writeFile(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, join(dir, 'seed.json'));
}

export async function removeSeedInfo(dir: string): Promise<void> {
  await rm(join(dir, 'seed.json'), { force: true });
}
