// Fetching the package files ahead of debootstrap, several at once, through the agent's apt proxy:
// debootstrap downloads one file after another, and each file through the swarm costs round trips
// (have? queries, the manifest, pieces from peers or the seed) that a slow machine pays 159 times in
// a row. Fetched ahead, the files sit in the proxy's blob store and debootstrap's own downloads are
// local. Only a warm-up: a file that fails here is left to debootstrap, which fetches and checks it.
import type { Logger } from '../../core/log.ts';

export interface PrefetchOptions {
  /** Archive root the files are under (the agent's apt proxy). */
  mirror: string;
  /** Archive paths (`pool/main/…deb`). */
  files: string[];
  concurrency?: number;
  signal: AbortSignal;
  onProgress?: (done: number, bytes: number) => void;
  log?: Logger;
}

export interface PrefetchResult { fetched: number; failed: number; bytes: number }

export async function prefetchPackages(o: PrefetchOptions): Promise<PrefetchResult> {
  const base = o.mirror.replace(/\/+$/, '');
  const r: PrefetchResult = { fetched: 0, failed: 0, bytes: 0 };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < o.files.length) {
      o.signal.throwIfAborted();
      const file = o.files[next++] as string;
      try {
        const res = await fetch(`${base}/${file}`, { signal: o.signal });
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        for await (const chunk of res.body) r.bytes += (chunk as Uint8Array).length;
        r.fetched++;
      } catch (e) {
        o.signal.throwIfAborted();
        r.failed++;
        o.log?.warn({ file, err: (e as Error).message }, 'package not fetched ahead: debootstrap will fetch it');
      }
      o.onProgress?.(r.fetched + r.failed, r.bytes);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 4) }, worker));
  return r;
}
