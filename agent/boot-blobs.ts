// The agent keeps its own boot files (issue 7, boot-storm offload): after joining the swarm the agent
// takes the agent kernel and ramdisk into its blob store, pinned, and its HTTP piece server can then
// serve them to machines the seed redirects to it. Which files: the seed's boot refs (GET
// /artifacts/agent-boot.json: name, sha256, size). The ramdisk comes, in this order, from the file the
// ramdisk's stage 0 left (/lpmos-initrd.img: iPXE on BIOS loads the ramdisk as that file and stage 0
// unpacks it, boot/ramdisk/stage0.ts), from the kernel's retained copy (/sys/firmware/initrd with
// `retain_initrd`, kernels from 6.10; Debian 12's 6.1 has none), each checked against the seed's sha256,
// else through the exchange (peers first, the seed as fallback): a machine booted by UEFI or GRUB got the
// ramdisk as its initramfs, which the kernel frees after unpacking. The stage-0 file is removed once
// the store holds its bytes (the memory is given back). A file that does not fit in the store's budget
// is skipped, and the seed is told (POST /api/v1/boot-files/declined) so the seat of the copy it sent
// this machine frees at once.
import { stat, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ErrorCode, LpmosError, formatError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { KEPT_INITRD_PATH } from '../core/stage0.ts';
import type { BlobExchange, BlobRef } from '../swarm/blobs/api.ts';

/** Where the kernel exposes the ramdisk it kept (`retain_initrd` on its command line). */
export const RETAINED_INITRD = '/sys/firmware/initrd';

const hex = z.string().regex(/^[0-9a-f]{64}$/);
const manifestSchema = z.object({ sha256: hex, size: z.number().int().min(0), pieceSize: z.number().int().min(1), pieces: z.array(hex) });
const refSchema = z.object({ name: z.string(), sha256: hex, size: z.number().int().min(0), url: z.string(), manifest: manifestSchema.optional() });
const bootRefsSchema = z.object({ kernel: refSchema, initrd: refSchema });
export type BootRef = z.infer<typeof refSchema>;
export type BootRefs = z.infer<typeof bootRefsSchema>;

export interface KeepBootFilesOptions {
  exchange: BlobExchange;
  /** Seed HTTP base URL. */
  seedUrl: string;
  logger: Logger;
  signal: AbortSignal;
  /** Where a kept ramdisk may be, first match wins (default: stage 0's file, then /sys/firmware/initrd); missing is fine. */
  retained?: readonly string[];
  /** Tries of the boot refs request (default 5, 2 s apart). */
  tries?: number;
}

export type KeptHow = 'retained' | 'fetched' | 'held';
export interface KeepResult {
  kept: { name: string; sha256: string; how: KeptHow; fromSeed: number; fromPeers: number }[];
  skipped: { name: string; sha256: string; why: string }[];
}

/** The seed's boot refs; undefined when it answers 404 (boot offload off, or a seed without it). */
export async function fetchBootRefs(seedUrl: string, signal: AbortSignal, tries = 5): Promise<BootRefs | undefined> {
  const url = `${seedUrl.replace(/\/+$/, '')}/artifacts/agent-boot.json`;
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    if (i > 0) await sleep(2000, undefined, { signal });
    try {
      const r = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(15_000)]) });
      if (r.status === 404) return undefined;
      if (!r.ok) throw new LpmosError(ErrorCode.Unavailable, `${url}: HTTP ${r.status}`);
      return bootRefsSchema.parse(await r.json());
    } catch (e) {
      if (signal.aborted) throw e;
      last = e;
    }
  }
  throw new LpmosError(ErrorCode.Unavailable, `boot refs from ${url}: ${formatError(last)}`, { cause: last });
}

/** Tells the seed this agent will not keep these boot files (best effort: the seat then ends with its grace). */
export async function declineBootFiles(seedUrl: string, sha256s: readonly string[], signal: AbortSignal, log: Logger): Promise<void> {
  const url = `${seedUrl.replace(/\/+$/, '')}/api/v1/boot-files/declined?sha256=${sha256s.join(',')}`;
  try {
    const r = await fetch(url, { method: 'POST', signal: AbortSignal.any([signal, AbortSignal.timeout(15_000)]) });
    if (!r.ok && r.status !== 404) log.warn({ url, status: r.status }, 'the seed did not take the declined boot files');
    await r.body?.cancel();
  } catch (e) {
    if (!signal.aborted) log.warn({ url, err: formatError(e) }, 'could not tell the seed the boot files are not kept');
  }
}

/** Removes the ramdisk file stage 0 left when the agent will not keep it (105 MB of memory otherwise). */
export async function dropKeptInitrd(log: Logger, paths: readonly string[] = [KEPT_INITRD_PATH]): Promise<void> {
  for (const p of paths.filter(removable)) {
    await unlink(p).then(
      () => log.info({ path: p }, 'the ramdisk stage 0 kept is not kept by this agent: removed'),
      (e: unknown) => {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ path: p, err: formatError(e) }, 'could not remove the kept ramdisk file');
      },
    );
  }
}

/** Room left in the store for a blob (what pinned and open blobs leave of the budget). */
function room(x: BlobExchange): number {
  return x.store.budget - x.store.used;
}

/** Paths that are files of the ramdisk's rootfs (not a kernel view): removed once the store has the bytes. */
const removable = (path: string): boolean => !path.startsWith('/sys/');

async function fromRetained(x: BlobExchange, path: string, ref: BlobRef, log: Logger): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) return false;
  let ok = false;
  if (st.size !== ref.size) {
    log.warn({ path, size: st.size, want: ref.size }, 'the kept ramdisk is not the one the seed serves (size); fetching it');
  } else {
    try {
      const m = await x.add(path, { pin: true });
      ok = m.sha256 === ref.sha256;
      if (!ok) {
        log.warn({ path, got: m.sha256, want: ref.sha256 }, 'the kept ramdisk is not the one the seed serves; fetching it');
        await x.store.remove(m.sha256).catch(() => undefined);
      }
    } catch (e) {
      log.warn({ path, err: formatError(e) }, 'could not take the kept ramdisk; fetching it');
    }
  }
  // Stored (or useless): stage 0's file gives its memory back; a kernel view (/sys) is left alone.
  if (removable(path)) await unlink(path).catch((e: unknown) => log.warn({ path, err: formatError(e) }, 'could not remove the kept ramdisk file'));
  return ok;
}

/**
 * Takes the agent kernel and ramdisk into the store, pinned for as long as the agent runs. Whatever
 * happens, the ramdisk file stage 0 left is gone afterwards (stored, or not wanted).
 */
export async function keepBootFiles(o: KeepBootFilesOptions): Promise<KeepResult> {
  try {
    return await keep(o);
  } finally {
    await dropKeptInitrd(o.logger, o.retained ?? [KEPT_INITRD_PATH]);
  }
}

async function keep(o: KeepBootFilesOptions): Promise<KeepResult> {
  const x = o.exchange;
  const refs = await fetchBootRefs(o.seedUrl, o.signal, o.tries);
  const out: KeepResult = { kept: [], skipped: [] };
  if (!refs) {
    o.logger.info('the seed does not ask agents to keep the boot files (boot offload off)');
    return out;
  }
  // The ramdisk first: a kept one makes this machine a holder within the hashing time, and the seed
  // holds the seat of the copy it sent this machine only for a grace period (seed/offload.ts); the
  // kernel (8 MB, fetched) after it.
  for (const [kind, ref] of [['initrd', refs.initrd], ['kernel', refs.kernel]] as const) {
    const held = x.store.get(ref.sha256);
    if (held?.complete) {
      x.store.pin(ref.sha256);
      out.kept.push({ name: ref.name, sha256: ref.sha256, how: 'held', fromSeed: 0, fromPeers: 0 });
      continue;
    }
    if (room(x) < ref.size) {
      const why = `${ref.size} bytes do not fit in the blob store (${room(x)} of ${x.store.budget} bytes free)`;
      o.logger.warn({ file: ref.name, kind, size: ref.size, free: room(x), budget: x.store.budget }, 'boot file not kept: it does not fit in the blob store; booting machines get it from the seed or another agent');
      out.skipped.push({ name: ref.name, sha256: ref.sha256, why });
      continue;
    }
    if (kind === 'initrd') {
      let found = false;
      for (const p of o.retained ?? [KEPT_INITRD_PATH, RETAINED_INITRD]) if (!found && (await fromRetained(x, p, ref, o.logger))) found = true;
      if (found) {
        out.kept.push({ name: ref.name, sha256: ref.sha256, how: 'retained', fromSeed: 0, fromPeers: 0 });
        continue;
      }
    }
    try {
      // Pinned until the agent stops: the result's unpin is never called.
      // With the seed's piece manifest the exchange fetches piece by piece (peers first, claims on the
      // seed's pieces); with the ref alone, a fetch no peer can describe streams the whole file.
      const m = ref.manifest && ref.manifest.sha256 === ref.sha256 && ref.manifest.size === ref.size && ref.manifest.pieces.length === Math.ceil(ref.size / ref.manifest.pieceSize) ? ref.manifest : undefined;
      const r = await x.fetch(m ?? { sha256: ref.sha256, size: ref.size }, { seedUrl: new URL(ref.url, `${o.seedUrl.replace(/\/+$/, '')}/`).toString(), pin: true, signal: o.signal });
      out.kept.push({ name: ref.name, sha256: ref.sha256, how: 'fetched', fromSeed: r.fromSeed, fromPeers: r.fromPeers });
    } catch (e) {
      if (o.signal.aborted) throw e;
      o.logger.warn({ file: ref.name, err: formatError(e) }, 'boot file not kept: fetch failed');
      out.skipped.push({ name: ref.name, sha256: ref.sha256, why: formatError(e) });
    }
  }
  o.logger.info({ kept: out.kept, skipped: out.skipped }, 'boot files kept for booting machines');
  if (out.skipped.length > 0) await declineBootFiles(o.seedUrl, out.skipped.map((s) => s.sha256), o.signal, o.logger);
  return out;
}
