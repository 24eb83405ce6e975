// GET /boot/ipxe?mac=…&uuid=…&serial=…&arch=…&platform=…: this machine's iPXE script, rendered from
// its state (an unknown MAC is enrolled as `discovered` first).
import { ipxeScript } from '../boot-scripts.ts';
import { parseBootQuery, type BootQuery } from '../boot-query.ts';
import { sendScript, type Handler } from '../context.ts';
import { machineForBoot } from '../machine-state.ts';
import { requireAgent } from './agent-artifacts.ts';

export const ipxe: Handler = async (ctx, app) => {
  const q = parseBootQuery(ctx.url.searchParams) as BootQuery;
  const machine = await machineForBoot(app, q, ctx.signal);
  if (machine.enrolled) app.log.info({ machine: machine.id, mac: q.mac, serial: q.serial, uuid: q.uuid, platform: q.platform, arch: q.arch }, 'http: enrolled a discovered machine');
  if (machine.action !== 'localboot') await requireAgent(app);
  sendScript(ctx, ipxeScript(app.scriptEnv(ctx.req), machine, q));
};
