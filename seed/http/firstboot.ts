// The first-boot report's decisions (pure): which machine the request names, and whether its
// source address may speak for that machine. The report comes from the installed system's unit
// (installers/debian/render.ts renderFirstbootScript), so it carries no credentials; what the seed
// can check is the address: when it gave one of the machine's MACs a DHCP lease, the report must
// come from a leased address (or the machine's reserved one), never from just anywhere.
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { isValidName, NAME_RULE } from '../../core/keys.ts';
import type { Status } from '../../core/model/status.ts';
import type { StatusChange } from '../../core/registry/status.ts';

export const FIRSTBOOT_STEP = 'firstboot';

/** `?machine=<id>`: exactly one, a valid machine name. */
export function firstbootMachine(url: URL): string {
  const values = url.searchParams.getAll('machine');
  if (values.length === 0) throw new LpmosError(ErrorCode.Usage, 'parameter "machine" is missing: POST /api/v1/firstboot?machine=<id>');
  if (values.length > 1) throw new LpmosError(ErrorCode.Usage, 'parameter "machine" is given more than once');
  const id = values[0] ?? '';
  if (!isValidName(id)) throw new LpmosError(ErrorCode.Usage, `parameter "machine": "${id.slice(0, 80)}" is not a machine name (${NAME_RULE})`);
  return id;
}

/** The client's IPv4 address as the seed sees it (`::ffff:10.0.0.5` → `10.0.0.5`). */
export function clientAddress(remote: string | undefined): string {
  return (remote ?? '').replace(/^::ffff:(?=\d+\.)/, '');
}

/**
 * May a report from `client` speak for the machine? Without a lease record of any of its MACs the
 * seed knows no address for it and accepts (proxy DHCP, another DHCP server, static addresses).
 */
export function sourceAllowed(client: string, leased: readonly string[], reserved: string | undefined): boolean {
  if (leased.length === 0) return true;
  return leased.includes(client) || (reserved !== undefined && reserved === client);
}

/** The status after the report; undefined (no write) when it is already provisioned: a repeat. */
export function firstbootStatus(current: Status | undefined): StatusChange | undefined {
  if (current?.state === 'provisioned') return undefined;
  return { state: 'provisioned', step: FIRSTBOOT_STEP, progress: 100 };
}
