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

export async function agentMain(settings: AgentBootSettings, logger: Logger, signal: AbortSignal): Promise<void> {
  logger.info({ seed: settings.seed, etcd: settings.etcd, site: settings.site, machine: settings.machine, bootMac: settings.bootMac }, 'agent starting');
  const store = await openStore({ endpoints: settings.etcd, logger, signal });
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
