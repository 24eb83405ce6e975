// The seed describes the agent kernel and ramdisk as blobs of its exchange (issue 7): added to its
// disk piece store, so it answers manifest? for them and agents keeping their boot files fetch them
// piece by piece — from each other while downloading, and from the seed's by-hash artifact URL
// only for pieces nobody has (cold-start claims) — instead of each taking a whole copy from the seed.
import { join } from 'node:path';
import { formatError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { BlobExchange } from '../swarm/blobs/api.ts';
import type { ArtifactIndex } from './http/artifacts.ts';

export async function describeBootFiles(blobs: BlobExchange, artifacts: ArtifactIndex, names: readonly string[], log: Logger): Promise<string[]> {
  const added: string[] = [];
  for (const n of names) {
    const a = artifacts.byName(n);
    if (!a) continue;
    if (blobs.store.get(a.sha256)?.complete) {
      added.push(a.sha256);
      continue;
    }
    try {
      const m = await blobs.add(join(a.root, a.rel), { pin: true });
      if (m.sha256 !== a.sha256) log.warn({ file: n, got: m.sha256, want: a.sha256 }, 'boot file changed on disk since its manifest was written');
      else added.push(m.sha256);
    } catch (e) {
      log.warn({ file: n, err: formatError(e) }, 'boot file not described as a blob: agents take it whole from the seed');
    }
  }
  log.info({ files: names, blobs: added.length }, 'boot files described as blobs');
  return added;
}
