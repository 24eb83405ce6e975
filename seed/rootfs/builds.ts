// The seed's root images (installers/debian/root-image.ts): built natively with debootstrap from the
// seed's own mirror, once per package set, kept under <dir>/<key>.tar.zst with <key>.json beside it,
// served at /rootfs/<key>.tar.zst and, with the swarm on, added to the seed's blob store so machines
// take the pieces from each other. Builds run one at a time (each is a debootstrap: disk and CPU);
// a request for an image under way or queued gets `building`; a failed build is remembered for a
// minute (so a crowd of machines does not restart it in a loop) and then tried again.
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { spawn } from 'node:child_process';
import { constants, createZstdCompress } from 'node:zlib';
import { ErrorCode, formatError, isLpmosError, LpmosError } from '../../core/errors.ts';
import { hashingStream } from '../../core/hash-stream.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import { mustRun } from '../../installers/exec.ts';
import { normalizeRootImageSpec, ROOT_FINISH_SCRIPT, rootBuildArgv, rootImageKey, rootImageRefSchema, rootPackArgv, type RootImageAnswer, type RootImageRef, type RootImageSpec } from '../../installers/debian/root-image.ts';

export interface RootImageBuildsOptions {
  /** Where images are kept (default <state-dir>/rootfs; keep it across runs, e.g. ~/.cache/lpmos/rootfs). */
  dir: string;
  /** The seed's own mirror for an OS (`http://10.0.0.1:8080/mirror/debian`): reachable from the seed itself. */
  mirrorUrl: (os: RootImageSpec['os']) => string;
  /** Called with each finished image file (the swarm adds it as a blob). */
  onBuilt?: (file: string, ref: RootImageRef) => Promise<void>;
  logger?: Logger;
  /** How long a failure is answered before the build is tried again (default 60 s). */
  retryAfterMs?: number;
  /** zstd level (default 6: ≈ the ratio of 12 at a fraction of the CPU on the seed). */
  level?: number;
}

interface Job { spec: RootImageSpec; key: string; since: Date; message: string }

export class RootImageBuilds {
  readonly #o: RootImageBuildsOptions;
  readonly #log: Logger;
  readonly #ready = new Map<string, RootImageRef>();
  readonly #failed = new Map<string, { at: number; code: string; message: string }>();
  readonly #jobs = new Map<string, Job>();
  #chain: Promise<void> = Promise.resolve();
  readonly #stop = new AbortController();
  /** Builds finished since start (tests, metrics). */
  built = 0;

  constructor(o: RootImageBuildsOptions) {
    this.#o = o;
    this.#log = o.logger ?? silentLogger();
  }

  file(key: string): string {
    return join(this.#o.dir, `${key}.tar.zst`);
  }

  /** The image for this spec: ready, or its build started (or queued), or its recent failure. */
  async request(input: RootImageSpec): Promise<RootImageAnswer> {
    const spec = normalizeRootImageSpec(input);
    const key = rootImageKey(spec);
    const ready = this.#ready.get(key) ?? (await this.#load(key));
    if (ready) return { state: 'ready', image: ready };
    const job = this.#jobs.get(key);
    if (job) return { state: 'building', key, since: job.since.toISOString(), message: job.message };
    const failed = this.#failed.get(key);
    if (failed && Date.now() - failed.at < (this.#o.retryAfterMs ?? 60_000)) return { state: 'failed', key, code: failed.code, message: failed.message };
    this.#failed.delete(key);
    const queued: Job = { spec, key, since: new Date(), message: this.#jobs.size ? `queued behind ${this.#jobs.size} build(s)` : 'starting' };
    this.#jobs.set(key, queued);
    this.#chain = this.#chain.then(() => this.#build(queued));
    return { state: 'building', key, since: queued.since.toISOString(), message: queued.message };
  }

  /** Resolves when every build started so far has ended (tests, shutdown). */
  async settled(): Promise<void> {
    await this.#chain;
  }

  async stop(): Promise<void> {
    this.#stop.abort(new LpmosError(ErrorCode.Unavailable, 'the seed is stopping'));
    await this.#chain;
  }

  async #load(key: string): Promise<RootImageRef | undefined> {
    const meta = join(this.#o.dir, `${key}.json`);
    if (!existsSync(meta) || !existsSync(this.file(key))) return undefined;
    try {
      const ref = rootImageRefSchema.parse(JSON.parse(await readFile(meta, 'utf8')));
      if ((await stat(this.file(key))).size !== ref.size) return undefined;
      // Built before this seed started: into the swarm as well (once), like a fresh build.
      if (this.#o.onBuilt) await this.#o.onBuilt(this.file(key), ref);
      this.#ready.set(key, ref);
      return ref;
    } catch (e) {
      this.#log.warn({ key, err: formatError(e) }, 'rootfs: unreadable image record: building again');
      return undefined;
    }
  }

  async #build(job: Job): Promise<void> {
    const { spec, key } = job;
    const signal = this.#stop.signal;
    const t0 = performance.now();
    const work = join(this.#o.dir, `${key}.build`);
    const part = `${this.file(key)}.part`;
    const log = this.#log.child({ rootfs: key.slice(0, 12) });
    try {
      await mkdir(this.#o.dir, { recursive: true });
      await rm(work, { recursive: true, force: true });
      await mkdir(work, { recursive: true });
      job.message = `debootstrap ${spec.suite} (${spec.include.length} packages asked for)`;
      log.info({ suite: spec.suite, include: spec.include }, 'rootfs: building');
      let packages = 0;
      await mustRun(rootBuildArgv(spec, work, this.#o.mirrorUrl(spec.os)), {
        signal, env: { LC_ALL: 'C' },
        onLine: (l) => {
          const m = /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing) (\S+)/.exec(l);
          if (m) job.message = `debootstrap: ${m[1]!.toLowerCase()} ${m[2]!}`;
          if (m?.[1] === 'Validating') packages++;
        },
      });
      job.message = 'building the initramfs and clearing per-machine files';
      await mustRun(['sh', '-c', ROOT_FINISH_SCRIPT, 'lpmos-rootfs-finish', work], { signal });
      job.message = 'packing';
      const { sha256, size } = await this.#pack(work, part, signal);
      await rename(part, this.file(key));
      const ref: RootImageRef = { key, sha256, size, path: `/rootfs/${key}.tar.zst`, packages, builtAt: new Date().toISOString(), buildSeconds: Math.round((performance.now() - t0) / 100) / 10 };
      await writeFile(join(this.#o.dir, `${key}.json`), `${JSON.stringify(ref, null, 2)}\n`);
      if (this.#o.onBuilt) await this.#o.onBuilt(this.file(key), ref);
      this.#ready.set(key, ref);
      this.built++;
      log.info({ sha256, size, packages, seconds: ref.buildSeconds }, 'rootfs: built');
    } catch (e) {
      const code = isLpmosError(e) ? e.code : ErrorCode.Internal;
      const message = formatError(e).replace(/^E_[A-Z_]+: /, '').slice(0, 600);
      this.#failed.set(key, { at: Date.now(), code, message });
      log.error({ err: formatError(e) }, 'rootfs: build failed');
      await rm(part, { force: true }).catch(() => undefined);
    } finally {
      this.#jobs.delete(key);
      // The built tree goes in any case; a mount left by a killed build would keep rm from descending.
      await mustRun(['sh', '-c', 'for d in dev/pts dev sys proc; do umount -l "$1/$d" 2>/dev/null; done; true', 'lpmos-rootfs-clean', work], { signal: new AbortController().signal }).catch(() => undefined);
      await rm(work, { recursive: true, force: true }).catch((e: unknown) => log.warn({ err: formatError(e) }, 'rootfs: build tree not removed'));
    }
  }

  /** tar → zstd → file, hashing what is written. */
  async #pack(root: string, out: string, signal: AbortSignal): Promise<{ sha256: string; size: number }> {
    const [cmd, ...args] = rootPackArgv(root);
    const tar = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
    let stderr = '';
    tar.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    const exited = new Promise<number>((resolve, reject) => {
      tar.on('error', reject);
      tar.on('close', (code) => resolve(code ?? 1));
    });
    const hashed = hashingStream();
    // One thread: Node 24's zstd with ZSTD_c_nbWorkers fails larger streams ("stream.push() after EOF", measured).
    const zstd = createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: this.#o.level ?? 6 } });
    await pipeline(tar.stdout, zstd, hashed.stream, createWriteStream(out), { signal });
    const code = await exited;
    if (code !== 0) throw new LpmosError(ErrorCode.Internal, `tar of the built root failed (exit ${code}): ${stderr.trim().split('\n').slice(-4).join('\n')}`);
    return hashed.result();
  }
}
