// `lpmos agent`: started by the ramdisk's init. Settings come from the kernel command line
// (core/cmdline.ts); `--cmdline TEXT` overrides /proc/cmdline for tests and manual runs.
// This file is also the entry the ramdisk bundles into one file (boot/ramdisk).
import { readFile } from 'node:fs/promises';
import { decodeAgentCmdline, type AgentBootSettings } from '../core/cmdline.ts';
import { ErrorCode, formatError, isLpmosError, exitCodes } from '../core/errors.ts';
import { Keys } from '../core/keys.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { openStore } from '../store/connect.ts';
import { collectInventory } from './inventory/collect.ts';
import { runAgent } from './agent.ts';

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

export async function agentMain(settings: AgentBootSettings, logger: Logger, signal: AbortSignal): Promise<void> {
  logger.info({ seed: settings.seed, etcd: settings.etcd, site: settings.site, machine: settings.machine, bootMac: settings.bootMac }, 'agent starting');
  const store = await openStoreRetrying(settings.etcd, logger, signal);
  try {
    await runAgent(
      { store, keys: new Keys(settings.prefix, settings.site), logger, collect: (s) => collectInventory({ signal: s }) },
      { ...(settings.machine ? { machine: settings.machine } : {}), ...(settings.bootMac ? { bootMac: settings.bootMac } : {}) },
      signal,
    );
  } finally {
    await store.close();
  }
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
    await agentMain(decodeAgentCmdline(text), logger, stop.signal);
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
