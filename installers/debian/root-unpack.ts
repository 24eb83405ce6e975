// Unpacks a root image (root-image.ts) into the mounted target: the compressed archive → zstd
// (Node's zlib) → `tar -x` on stdin. Progress is the share of the compressed bytes read. tar runs in
// its own process group (an aborted install ends it); a stream that fails (a bad sha256 at the end
// of an HTTP stream, a peer gone) fails the step, and the os step's `clean` starts the next try
// from an empty root.
import { spawn } from 'node:child_process';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createZstdDecompress } from 'node:zlib';
import { ErrorCode, isLpmosError, LpmosError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { rootUnpackArgv, type OpenedRootImage, type RootImageProgress } from './root-image.ts';

export async function unpackRootImage(image: OpenedRootImage, target: string, signal: AbortSignal, progress: (p: RootImageProgress) => void, log: Logger): Promise<void> {
  const t0 = performance.now();
  const [cmd, ...args] = rootUnpackArgv(target);
  const tar = spawn(cmd!, args, { stdio: ['pipe', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  tar.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-8000)));
  const exited = new Promise<number>((resolve, reject) => {
    tar.on('error', (e) => reject(new LpmosError(ErrorCode.Unavailable, `tar: ${e.message}`, { cause: e })));
    tar.on('close', (code, sig) => resolve(code ?? (sig ? 128 : 1)));
  });
  const onAbort = (): void => {
    try {
      if (tar.pid) process.kill(-tar.pid, 'SIGKILL');
    } catch { /* gone */ }
  };
  signal.addEventListener('abort', onAbort, { once: true });
  let read = 0;
  let last = 0;
  const count = new Transform({
    transform(chunk: Buffer, _e, cb) {
      read += chunk.length;
      if (performance.now() - last > 2000) {
        last = performance.now();
        progress({ percent: Math.min(99, Math.floor((read / image.size) * 100)), message: `unpacking the root image from ${image.via}: ${(read / 2 ** 20).toFixed(0)} of ${(image.size / 2 ** 20).toFixed(0)} MiB` });
      }
      cb(null, chunk);
    },
  });
  try {
    await pipeline(image.stream, count, createZstdDecompress(), tar.stdin, { signal });
  } catch (e) {
    onAbort();
    await exited.catch(() => undefined);
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : e;
    // A stream that failed its own check (sha256) keeps its code; anything else is the source going away.
    throw new LpmosError(isLpmosError(e) ? e.code : ErrorCode.Unavailable, `root image ${image.sha256.slice(0, 12)} not unpacked: ${(e as Error).message}${stderr ? `\ntar: ${stderr.trim().split('\n').slice(-4).join('\n')}` : ''}`, { cause: e });
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  const code = await exited;
  if (code !== 0) throw new LpmosError(ErrorCode.Internal, `tar -x into ${target} failed (exit ${code}): ${stderr.trim().split('\n').slice(-6).join('\n')}`);
  const seconds = (performance.now() - t0) / 1000;
  log.info({ sha256: image.sha256, bytes: image.size, seconds: seconds.toFixed(1), via: image.via }, 'root image unpacked');
  progress({ percent: 100, bytes: image.size, message: `root image unpacked in ${seconds.toFixed(0)} s (${(image.size / 2 ** 20).toFixed(0)} MiB from ${image.via})` });
}
