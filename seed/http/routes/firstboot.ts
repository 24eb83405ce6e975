// POST /api/v1/firstboot?machine=<id>: the installed system booted (its first-boot unit reports,
// installers/debian/render.ts), so the machine is `provisioned` (step `firstboot`). The body (`{}`)
// is not read. When the seed leased an address to one of the machine's MACs, the report must come
// from it (403 otherwise). A repeat answers 200 again and writes nothing. Errors are JSON.
import { ErrorCode, LpmosError } from '../../../core/errors.ts';
import { leaseSchema } from '../../../core/model/lease.ts';
import { machineSchema } from '../../../core/model/machine.ts';
import { read } from '../../../core/registry/records.ts';
import { updateStatus } from '../../../core/registry/status.ts';
import { HttpError, sendJson, type Handler } from '../context.ts';
import { clientAddress, firstbootMachine, firstbootStatus, sourceAllowed } from '../firstboot.ts';

export const firstboot: Handler = async (ctx, app) => {
  const id = firstbootMachine(ctx.url);
  const machine = await read(app.store, machineSchema, app.keys.machine(id), ctx.signal);
  if (!machine) throw new LpmosError(ErrorCode.NotFound, `machine "${id}" does not exist`);
  const leased: string[] = [];
  for (const mac of machine.value.macs) {
    const lease = await read(app.store, leaseSchema, app.keys.lease(mac), ctx.signal);
    if (lease) leased.push(lease.value.ip);
  }
  const client = clientAddress(ctx.req.socket.remoteAddress);
  if (!sourceAllowed(client, leased, machine.value.ipv4)) {
    app.log.warn({ machine: id, client, leased }, 'http: first-boot report from an address not leased to the machine refused');
    throw new HttpError(403, `machine "${id}" reports from ${leased.join(' or ')}, not ${client}`, {}, 'E_FORBIDDEN');
  }
  let changed = false;
  const status = await updateStatus(app.store, app.keys, id, (current) => {
    const change = firstbootStatus(current);
    changed = change !== undefined;
    return change;
  });
  if (changed) app.log.info({ machine: id, client }, 'http: first-boot report: machine provisioned');
  sendJson(ctx, 200, { machine: id, state: status?.state, step: status?.step, since: status?.since, changed });
};
