// Polls `cond` until it holds; fails naming what it waited for. For tests against real nodes and etcd
// where an event has no callback to await (a gossip message arriving, a key written by another process).
import { setTimeout as sleep } from 'node:timers/promises';

export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000, everyMs = 25): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(everyMs);
  }
}
