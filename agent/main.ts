// `lpmos agent`: started by the ramdisk's init. Settings come from the kernel command line
// (core/cmdline.ts); `--cmdline TEXT` overrides /proc/cmdline for tests and manual runs.
// This file is also the entry the ramdisk bundles into one file (boot/ramdisk).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { freemem } from 'node:os';
import { promisify } from 'node:util';
import { decodeAgentCmdline, type AgentBootSettings } from '../core/cmdline.ts';
import { ErrorCode, formatError, isLpmosError, exitCodes } from '../core/errors.ts';
import { Keys } from '../core/keys.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { openStore } from '../store/connect.ts';
import { collectInventory } from './inventory/collect.ts';
import { recordProcessGroups } from '../installers/exec.ts';
import { AgentSwarm } from '../swarm/agent-swarm.ts';
import { AptProxy } from './apt-proxy.ts';
import { dropKeptInitrd, keepBootFiles } from './boot-blobs.ts';
import { MetricsWriter } from './metrics-writer.ts';
import { runAgent } from './agent.ts';
import { SpecFollower, type ProgressSink } from './installer.ts';
import { endLeftoverGroups } from './leftovers.ts';
import { SeedRootImages } from './root-images.ts';

/**
 * The seed's etcd may not answer at once (a seed restarting, a slow link, a machine still busy with its
 * boot — under emulation the first gRPC round trip alone can take seconds): the agent keeps trying, with
 * a generous per-call deadline and backoff up to 10 s, until it answers or the agent is stopped.
 */
async function openStoreRetrying(endpoints: string[], logger: Logger, signal: AbortSignal): Promise<Awaited<ReturnType<typeof openStore>>> {
  let delay = 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await openStore({ endpoints, logger, signal, timeoutMs: 30_000 });
    } catch (e) {
      if (signal.aborted || (isLpmosError(e) && e.code !== ErrorCode.Unavailable && e.code !== ErrorCode.Timeout)) throw e;
      logger.warn({ attempt, retryInMs: delay, err: formatError(e) }, 'etcd not reachable yet; retrying');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
      });
      delay = Math.min(delay * 2, 10_000);
    }
  }
}

export interface AgentRuntime {
  /** Reboots the machine. Only the ramdisk's agent gets the real one (LPMOS_RAMDISK=1, set by its init). */
  reboot: () => Promise<void>;
  /** Where the process groups of install commands are recorded (ramdisk: /run/lpmos/commands). */
  commandsDir?: string;
  /** Mount point of the new root. */
  target: string;
  /** Why this agent must not install (it does not run from the ramdisk); undefined when it may. */
  refuseInstall?: string;
}

const run = promisify(execFile);

/** The ramdisk's runtime: the real reboot and /target; elsewhere a reboot is only logged and the agent stops. */
export function defaultRuntime(logger: Logger, stop: AbortController): AgentRuntime {
  if (process.env.LPMOS_RAMDISK === '1') {
    return {
      target: '/target',
      commandsDir: '/run/lpmos/commands',
      reboot: async () => {
        await run('reboot'); // the ramdisk's reboot: sync, then busybox reboot -f
        await new Promise(() => undefined); // the kernel ends us
      },
    };
  }
  return {
    target: process.env.LPMOS_TARGET ?? '/target',
    ...(process.env.LPMOS_ALLOW_INSTALL === '1' ? {} : { refuseInstall: 'this agent does not run from the LPMOS ramdisk: it refuses to write the disks of the machine it runs on (set LPMOS_ALLOW_INSTALL=1 to allow it)' }),
    reboot: async () => {
      logger.warn('the machine should reboot now; not in the agent ramdisk (LPMOS_RAMDISK unset), so the agent stops instead');
      stop.abort();
    },
  };
}

export async function agentMain(settings: AgentBootSettings, logger: Logger, signal: AbortSignal, runtime: AgentRuntime): Promise<void> {
  logger.info({ seed: settings.seed, etcd: settings.etcd, site: settings.site, machine: settings.machine, bootMac: settings.bootMac }, 'agent starting');
  if (runtime.commandsDir) {
    await endLeftoverGroups(runtime.commandsDir, logger);
    recordProcessGroups(runtime.commandsDir);
  }
  const store = await openStoreRetrying(settings.etcd, logger, signal);
  const keys = new Keys(settings.prefix, settings.site);
  let swarm: AgentSwarm | undefined;
  let follower: SpecFollower | undefined;
  let proxy: AptProxy | undefined;
  let metrics: MetricsWriter | undefined;
  try {
    await runAgent(
      {
        store, keys, logger, collect: (s) => collectInventory({ signal: s }),
        onMachine: async (machine, inventory) => {
          let progress: ProgressSink;
          if (settings.bootstrap.length) {
            swarm = await AgentSwarm.start(
              { store, keys, site: settings.site, machine, bootstrap: settings.bootstrap, logger: logger.child({ component: 'swarm' }), blobs: { budget: blobBudget(), http: { host: '0.0.0.0' } } },
              signal,
            );
            logger.info({ peerId: swarm.peerId, bootstrap: settings.bootstrap, blobs: swarm.blobs?.httpUrl }, 'joined the swarm');
            const s = swarm;
            ({ proxy, metrics } = await startPackageCache(s, { store, keys, machine, seedUrl: settings.seed, logger }));
            // Boot-storm offload: keep the agent kernel and ramdisk so the seed can send booting machines here.
            if (s.blobs) void keepBootFiles({ exchange: s.blobs, seedUrl: settings.seed, logger: logger.child({ component: 'boot-files' }), signal }).catch((e: unknown) => logger.warn({ err: formatError(e) }, 'boot files not kept'));
            else void dropKeptInitrd(logger);
            const m = metrics;
            progress = {
              report: (p) => {
                s.report(p);
                // The end of an install (either way): the counters go to etcd now, not at the next tick.
                if (p.state === 'complete' || p.state === 'failed') void m?.flush();
              },
              drain: async (ms) => {
                await m?.flush();
                return s.drain(ms);
              },
            };
          } else {
            progress = noSwarm(logger);
            void dropKeptInitrd(logger);
          }
          const images = new SeedRootImages({ seedUrl: settings.seed, ...(swarm?.blobs ? { exchange: swarm.blobs } : {}), logger: logger.child({ component: 'rootfs' }) });
          follower = new SpecFollower({
            store, keys, logger, inventory, progress, reboot: runtime.reboot, images,
            ...(runtime.refuseInstall ? { refuseInstall: runtime.refuseInstall } : {}),
            context: {
              machine, seedUrl: settings.seed, target: runtime.target, ...(settings.bootMac ? { bootMac: settings.bootMac } : {}),
              ...(proxy ? { aptProxy: { url: proxy.url, proxyUrl: proxy.proxyUrl } } : {}),
              rootImages: true,
            },
          });
          const f = follower;
          return (spec) => f.onSpec(spec);
        },
      },
      { ...(settings.machine ? { machine: settings.machine } : {}), ...(settings.bootMac ? { bootMac: settings.bootMac } : {}) },
      signal,
    );
  } finally {
    await follower?.stop('the agent is stopping');
    await metrics?.stop();
    await proxy?.stop();
    await swarm?.stop().catch(() => false);
    await store.close();
  }
}

/**
 * Memory for the blob store (the ramdisk is RAM too): a quarter of what is free when the agent
 * starts, at least 64 MiB (a kernel package fits) and at most 1 GiB. Unpinned blobs are evicted
 * first; a package that does not fit is passed through from the seed.
 */
export function blobBudget(free = freemem()): number {
  const MiB = 1024 * 1024;
  return Math.max(64 * MiB, Math.min(1024 * MiB, Math.floor(free / 4)));
}

/**
 * The package cache through the swarm: the apt proxy the installer uses as its mirror, and the
 * metrics writer (`swarm/metrics/<machine>`). Without a blob exchange, or when the proxy cannot
 * start, the install uses the seed's mirror directly.
 */
async function startPackageCache(
  swarm: AgentSwarm,
  o: { store: Awaited<ReturnType<typeof openStore>>; keys: Keys; machine: string; seedUrl: string; logger: Logger },
): Promise<{ proxy?: AptProxy; metrics?: MetricsWriter }> {
  const blobs = swarm.blobs;
  if (!blobs) return {};
  let proxy: AptProxy | undefined = new AptProxy({ seedUrl: o.seedUrl, exchange: blobs, logger: o.logger.child({ component: 'apt-proxy' }) });
  try {
    await proxy.start();
  } catch (e) {
    o.logger.warn({ err: formatError(e) }, 'apt proxy not started: packages come from the seed directly');
    proxy = undefined;
  }
  const p = proxy;
  const metrics = new MetricsWriter({
    store: o.store, keys: o.keys, machine: o.machine, peerId: swarm.peerId, blobs: () => blobs.stats,
    ...(p ? { proxy: () => p.counters } : {}),
    logger: o.logger.child({ component: 'metrics' }),
  });
  metrics.start();
  return { ...(proxy ? { proxy } : {}), metrics };
}

/** Without a swarm (no lpmos.bootstrap) progress has nowhere to go but the log: the seed sees only etcd. */
function noSwarm(logger: Logger): ProgressSink {
  logger.warn('no lpmos.bootstrap on the kernel command line: install progress is logged here only, and the seed will not learn when an install completes');
  return {
    report: (p) => logger.info({ progress: p }, 'progress'),
    drain: () => Promise.resolve(true),
  };
}

/** Runs the agent from a command line text; returns the exit code. */
export async function runFromCmdline(cmdline: string | undefined): Promise<number> {
  const logger = createLogger({ name: 'agent' });
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const text = cmdline ?? (await readFile('/proc/cmdline', 'utf8'));
    await agentMain(decodeAgentCmdline(text), logger, stop.signal, defaultRuntime(logger, stop));
    return 0;
  } catch (e) {
    logger.error({ code: isLpmosError(e) ? e.code : ErrorCode.Internal, err: formatError(e) }, 'agent failed');
    return isLpmosError(e) ? exitCodes[e.code] : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (import.meta.main) {
  const i = process.argv.indexOf('--cmdline');
  process.exitCode = await runFromCmdline(i >= 0 ? process.argv[i + 1] : undefined);
}
