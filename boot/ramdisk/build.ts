// `lpmos boot ramdisk`: kernel + initramfs (three concatenated compressed cpio layers) + manifest, cached under
// ~/.cache/lpmos/ramdisk by the hash of every input, so a rebuild with nothing changed only re-bundles and
// re-hashes (seconds), and a changed agent only repacks the small agent layer.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '../../core/log.ts';
import { silentLogger } from '../../core/log.ts';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { obtainPackage, sha256File } from '../assets/gather.ts';
import { cachedNodeBinary, debCacheDir, lpmosCacheDir } from '../cache.ts';
import { run } from '../exec.ts';
import { DEFAULT_COMPRESSION, type Compression } from './archive.ts';
import { bundleAgent } from './bundle.ts';
import { buildStage0, stage0Script, STAGE0_FILE } from './stage0.ts';
import { buildAgentLayer, buildBaseLayer, buildRuntimeLayer, initFiles, LPMOS_WRAPPER, POWER_COMMANDS } from './layers.ts';
import { RAMDISK_PACKAGES, baseRecipe, debianSources, moduleRecipe } from './spec.ts';
import { hostSourcesText } from './sources.ts';

export interface RamdiskOptions {
  /** Also copy the result here (kernel `vmlinuz`, `initrd.img`, `manifest.json`). */
  outDir?: string;
  /** The agent's entry file; default <project>/agent/main.ts. */
  entry?: string;
  projectRoot?: string;
  cacheDir?: string;
  nodeBinary?: string;
  compression?: Compression;
  signal?: AbortSignal;
  log?: Logger;
}

export interface RamdiskFile {
  file: string;
  sha256: string;
  size: number;
}

export interface RamdiskManifest {
  kind: 'lpmos-agent-ramdisk';
  key: string;
  kernel: RamdiskFile & { package: string; version: string; release: string };
  initrd: RamdiskFile & { compression: string };
  /** Unpacks initrd.img wrapped as a file, so the agent keeps its bytes (boot/ramdisk/stage0.ts). */
  stage0?: RamdiskFile;
  node: { version: string };
  agent: { entry: string; sha256: string; inputs: number };
  layers: { name: string; key: string; size: number }[];
  packages: readonly string[];
  modules: number;
  buildSeconds: number;
}

export interface RamdiskResult {
  dir: string;
  kernel: string;
  initrd: string;
  manifest: RamdiskManifest;
  /** True when nothing had to be built. */
  cached: boolean;
}

/** sha256 of a JSON value with sorted object keys, shortened: cache keys. */
export function hashKey(value: unknown): string {
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(norm);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, norm(x)]));
    return v;
  };
  return createHash('sha256').update(JSON.stringify(norm(value))).digest('hex').slice(0, 20);
}

const exists = (p: string) => stat(p).then(() => true, () => false);

async function cachedLayer(file: string, build: () => Promise<unknown>): Promise<number> {
  if (!(await exists(file))) await build();
  return (await stat(file)).size;
}

async function concat(parts: readonly string[], out: string): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}`;
  const ws = createWriteStream(tmp);
  for (const p of parts) await pipeline(createReadStream(p), ws, { end: false });
  await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));
  await rename(tmp, out);
}

/**
 * The kernel package (linux-image-amd64 → the versioned one) and its cached .deb. `apt-cache` costs ≈ 1.5 s
 * (more on a busy machine), so the answer is remembered until the apt lists change (names, sizes, mtimes).
 */
async function resolveKernel(cache: string, debs: string, signal?: AbortSignal): Promise<{ name: string; version: string; deb: string }> {
  const lists = '/var/lib/apt/lists';
  const names = (await readdir(lists).catch(() => [] as string[])).filter((n) => !n.startsWith('lock') && n !== 'partial').sort();
  const stamp = hashKey(await Promise.all(names.map(async (n) => {
    const st = await stat(join(lists, n)).catch(() => undefined);
    return [n, st?.size, st?.mtimeMs];
  })));
  const memo = join(cache, 'kernel-package.json');
  const known = await readFile(memo, 'utf8').then((t) => JSON.parse(t) as { stamp: string; name: string; version: string; deb: string }, () => undefined);
  if (known && known.stamp === stamp && (await exists(known.deb))) return known;
  const pkg = await obtainPackage({ name: 'linux-image-amd64', viaDependsPrefix: 'linux-image-' }, debs, signal);
  const tmp = `${memo}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify({ stamp, name: pkg.name, version: pkg.version, deb: pkg.deb }));
  await rename(tmp, memo);
  return pkg;
}

/** Finished ramdisks kept in the cache (the e2e agent's and the probe's are both in use at once): the newest ones. */
const KEEP_BUILDS = 6;

/** Drops all but the `keep` newest finished builds, and the layers none of the kept ones uses. */
export async function pruneCache(cache: string, keep: number): Promise<void> {
  // Another build in progress may be about to use a layer no finished build references yet: leave it all alone.
  const { lockHeld, pidAlive } = await import('./lock.ts');
  for (const d of [cache, join(cache, 'layers')]) {
    for (const n of await readdir(d)) {
      if (n.endsWith('.lock')) {
        if (await lockHeld(join(d, n))) return;
        continue;
      }
      // Scratch dirs and temp files carry their builder's pid: a live one means busy, a dead one left garbage.
      const pid = Number(/(?:^\.build-|\.tmp-)(\d+)/.exec(n)?.[1] ?? NaN);
      if (Number.isNaN(pid)) continue;
      if (pidAlive(pid)) return;
      await rm(join(d, n), { recursive: true, force: true });
    }
  }
  const builds: { dir: string; mtime: number; layers: string[] }[] = [];
  for (const name of await readdir(cache)) {
    if (!/^[0-9a-f]{20}$/.test(name)) continue;
    const m = await readFile(join(cache, name, 'manifest.json'), 'utf8').then((t) => JSON.parse(t) as RamdiskManifest, () => undefined);
    if (!m) continue;
    builds.push({ dir: join(cache, name), mtime: (await stat(join(cache, name, 'manifest.json'))).mtimeMs, layers: m.layers.map((l) => `${l.name}-${l.key}`) });
  }
  builds.sort((a, b) => b.mtime - a.mtime);
  for (const b of builds.slice(keep)) await rm(b.dir, { recursive: true, force: true });
  const used = new Set(builds.slice(0, keep).flatMap((b) => b.layers));
  for (const f of await readdir(join(cache, 'layers'))) {
    const m = /^(base|runtime)-([0-9a-f]{20})\.cpio\.(zstd|xz)$/.exec(f);
    if (m && !used.has(`${m[1]}-${m[2]}`)) {
      await rm(join(cache, 'layers', f), { force: true });
      if (m[1] === 'runtime') {
        await rm(join(cache, 'layers', `runtime-${m[2]}.json`), { force: true });
        await rm(join(cache, 'layers', `vmlinuz-${m[2]}`), { force: true });
      }
    }
  }
}

export async function buildRamdisk(opts: RamdiskOptions = {}): Promise<RamdiskResult> {
  const started = Date.now();
  const log = opts.log ?? silentLogger();
  const signal = opts.signal;
  const projectRoot = resolve(opts.projectRoot ?? join(new URL(import.meta.url).pathname, '..', '..', '..'));
  const entry = resolve(projectRoot, opts.entry ?? 'agent/main.ts');
  const cache = join(opts.cacheDir ?? lpmosCacheDir(), 'ramdisk');
  const compression = opts.compression ?? DEFAULT_COMPRESSION;
  const nodeBinary = opts.nodeBinary ?? cachedNodeBinary();
  if (!(await exists(entry))) throw new LpmosError(ErrorCode.NotFound, `the agent's entry ${entry} does not exist`);
  if (!(await exists(nodeBinary))) throw new LpmosError(ErrorCode.NotFound, `no Node 24 binary at ${nodeBinary} (run scripts/setup.sh)`);
  await mkdir(join(cache, 'layers'), { recursive: true });

  const step = (msg: string) => log.info(`ramdisk [${((Date.now() - started) / 1000).toFixed(1)} s]: ${msg}`);
  step(`bundling the agent from ${entry}`);
  const bundle = await bundleAgent(entry, projectRoot);
  const { init, udhcpc } = await initFiles();
  const sources = debianSources(...(await hostSourcesText()));
  if (sources.trim() === '') throw new LpmosError(ErrorCode.Unavailable, 'the host has no Debian archive in its apt sources (/etc/apt/sources.list*)');
  step('resolving the kernel package');
  const kernelPkg = await resolveKernel(cache, opts.cacheDir ? join(opts.cacheDir, 'debs') : debCacheDir(), signal);
  const release = kernelPkg.name.replace(/^linux-image-/, '');
  const nodeSha = await sha256File(nodeBinary);
  const nodeVersion = (await run(nodeBinary, ['--version'], { signal })).stdout.trim();

  const comp = `${compression.kind}-${compression.level}`;
  const baseKey = hashKey({ base: baseRecipe(), sources, comp });
  const runtimeKey = hashKey({ kernel: [kernelPkg.name, kernelPkg.version], modules: moduleRecipe(), nodeSha, comp, recipe: 1 });
  const agentSha = createHash('sha256').update(bundle.code).update(init).update(udhcpc).update(LPMOS_WRAPPER);
  for (const [k, v] of POWER_COMMANDS) agentSha.update(k).update(v);
  for (const [k, v] of [...bundle.files].sort(([a], [b]) => (a < b ? -1 : 1))) agentSha.update(k).update(v);
  const agentKey = hashKey({ agent: agentSha.digest('hex'), comp });
  const key = hashKey({ baseKey, runtimeKey, agentKey, stage0: createHash('sha256').update(await stage0Script()).digest('hex') });
  const dir = join(cache, key);
  const manifestPath = join(dir, 'manifest.json');

  let cached = true;
  if (!(await exists(manifestPath))) {
    cached = false;
    const { withLock } = await import('./lock.ts');
    await withLock(join(cache, `${key}.lock`), async () => {
      if (await exists(manifestPath)) return;
      const scratch = await mkdtemp(join(cache, `.build-${process.pid}-`));
      try {
        const ctx = { scratch, compression, log, signal };
        const base = join(cache, 'layers', `base-${baseKey}.cpio.${compression.kind}`);
        const runtime = join(cache, 'layers', `runtime-${runtimeKey}.cpio.${compression.kind}`);
        const kernelFile = join(cache, 'layers', `vmlinuz-${runtimeKey}`);
        const agent = join(scratch, 'agent.cpio');
        const sourcesFile = join(scratch, 'debian.sources');
        await writeFile(sourcesFile, `${sources}\n`);
        // The two big layers do not depend on each other: built side by side (mmdebstrap waits on the network
        // and dpkg while the runtime layer compresses).
        step('base layer (Debian root) and runtime layer (kernel modules, node)');
        const runtimeMeta = join(cache, 'layers', `runtime-${runtimeKey}.json`);
        const [baseSize, runtimeSize] = await Promise.all([
          cachedLayer(base, () => withLock(`${base}.lock`, async () => (await exists(base)) || buildBaseLayer({ ...ctx, scratch: join(scratch, 'b') }, sourcesFile, base), { signal })),
          cachedLayer(runtime, () => withLock(`${runtime}.lock`, async () => {
            if (await exists(runtime)) return;
            const r = await buildRuntimeLayer({ ...ctx, scratch: join(scratch, 'r') }, { kernelDeb: kernelPkg.deb, release, nodeBinary }, runtime, kernelFile);
            await writeFile(runtimeMeta, JSON.stringify({ modules: r.modules, missing: r.missing }));
            step(`runtime layer done: ${r.modules} kernel modules`);
          }, { signal })),
        ]);
        step('base and runtime layers ready');
        const modules = (JSON.parse(await readFile(runtimeMeta, 'utf8').catch(() => '{}')) as { modules?: number }).modules ?? 0;
        step('agent layer (init, bundled agent)');
        const agentSize = await buildAgentLayer(ctx, bundle, agent);
        const tmpDir = join(scratch, 'out');
        await mkdir(tmpDir);
        step('assembling initrd.img');
        await concat([base, runtime, agent], join(tmpDir, 'initrd.img'));
        await copyFile(kernelFile, join(tmpDir, 'vmlinuz'));
        const layers = [{ name: 'base', key: baseKey, size: baseSize }, { name: 'runtime', key: runtimeKey, size: runtimeSize }, { name: 'agent', key: agentKey, size: agentSize }];
        step('stage 0 (keeps the ramdisk for the agent)');
        await buildStage0({
          scratch, debCache: opts.cacheDir ? join(opts.cacheDir, 'debs') : debCacheDir(), compression, signal,
          layers: layers.map((l) => ({ size: l.size, kind: compression.kind })), initrdSize: (await stat(join(tmpDir, 'initrd.img'))).size,
        }, join(tmpDir, STAGE0_FILE));
        const file = async (name: string): Promise<RamdiskFile> => ({ file: name, sha256: await sha256File(join(tmpDir, name)), size: (await stat(join(tmpDir, name))).size });
        const manifest: RamdiskManifest = {
          kind: 'lpmos-agent-ramdisk',
          key,
          kernel: { ...(await file('vmlinuz')), package: kernelPkg.name, version: kernelPkg.version, release },
          initrd: { ...(await file('initrd.img')), compression: comp },
          stage0: await file(STAGE0_FILE),
          node: { version: nodeVersion },
          agent: { entry: entry.startsWith(projectRoot) ? entry.slice(projectRoot.length + 1) : entry, sha256: createHash('sha256').update(bundle.code).digest('hex'), inputs: bundle.inputs.length },
          layers,
          packages: RAMDISK_PACKAGES,
          modules,
          buildSeconds: Math.round((Date.now() - started) / 1000),
        };
        await writeFile(join(tmpDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
        await rm(dir, { recursive: true, force: true });
        await rename(tmpDir, dir);
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    }, { signal, onWait: () => step('another build of the same ramdisk is running; waiting for it') });
  }
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as RamdiskManifest;
  if (!cached) await pruneCache(cache, KEEP_BUILDS).catch((e: unknown) => log.warn({ err: String(e) }, 'ramdisk: cache pruning failed'));
  const result: RamdiskResult = { dir, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img'), manifest, cached };
  if (opts.outDir) {
    await mkdir(opts.outDir, { recursive: true });
    for (const f of ['vmlinuz', 'initrd.img', ...(manifest.stage0 ? [STAGE0_FILE] : []), 'manifest.json']) await copyFile(join(dir, f), join(opts.outDir, f));
  }
  step(`${cached ? 'cached' : 'built'}: initrd.img ${(manifest.initrd.size / 1e6).toFixed(1)} MB (${manifest.initrd.compression}), vmlinuz ${(manifest.kernel.size / 1e6).toFixed(1)} MB in ${dir}`);
  return result;
}
