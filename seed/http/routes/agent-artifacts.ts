// A script that boots the agent is useless when the seed cannot serve its kernel and ramdisk:
// answer 503 naming what is missing, instead of a script that fails on the machine's console.
import { ErrorCode, LpmosError } from '../../../core/errors.ts';
import type { HttpApp } from '../context.ts';

export async function requireAgent(app: HttpApp): Promise<void> {
  // A ramdisk built while the seed runs rewrites its manifest: look again before refusing.
  await app.artifacts.refresh().catch((e: unknown) => app.log.warn({ err: e }, 'http: a changed artifact manifest could not be loaded; serving the previous one'));
  const missing = [app.agent.kernel, app.agent.initrd].filter((n) => !app.artifacts.byName(n));
  if (missing.length) {
    throw new LpmosError(ErrorCode.Unavailable, `agent ${missing.map((n) => `"${n}"`).join(' and ')} not among the artifacts (--http-artifacts): build them with lpmos boot ramdisk`);
  }
}
