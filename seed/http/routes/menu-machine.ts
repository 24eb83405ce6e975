// The machine a GRUB or pxelinux menu is for: from the MAC in the path (`…01-aa-bb-cc-dd-ee-ff`,
// the names both loaders ask for) or in the query; none for the `default` menus, which serve any
// machine (the agent learns its MAC from BOOTIF and enrols itself).
import { ErrorCode, LpmosError } from '../../../core/errors.ts';
import { parseBootQuery, type BootQuery } from '../boot-query.ts';
import type { ScriptMachine } from '../boot-scripts.ts';
import type { HttpApp, HttpContext } from '../context.ts';
import { machineForBoot } from '../machine-state.ts';
import { requireAgent } from './agent-artifacts.ts';

/** `01-aa-bb-cc-dd-ee-ff` (pxelinux and GRUB name files so: ARP type 1, Ethernet). */
export const PATH_MAC = '01-([0-9a-fA-F]{2}(?:-[0-9a-fA-F]{2}){5})';

export async function menuMachine(ctx: HttpContext, app: HttpApp, pathMac: string | undefined): Promise<ScriptMachine | undefined> {
  const q = parseBootQuery(ctx.url.searchParams, false);
  if (pathMac !== undefined) {
    if (q.mac !== undefined) throw new LpmosError(ErrorCode.Usage, 'query parameter "mac": the path names the MAC already');
    q.mac = pathMac.toLowerCase().replaceAll('-', ':');
  }
  let machine: ScriptMachine | undefined;
  if (q.mac) {
    const m = await machineForBoot(app, q as BootQuery, ctx.signal);
    if (m.enrolled) app.log.info({ machine: m.id, mac: q.mac }, 'http: enrolled a discovered machine');
    machine = m;
  }
  if (machine?.action !== 'localboot') await requireAgent(app);
  return machine;
}
