// GET /boot.ipxe: the chain script a DHCP reply names for iPXE clients (DESIGN §3).
import { ErrorCode, LpmosError } from '../../../core/errors.ts';
import { chainScript } from '../boot-scripts.ts';
import { sendScript, type Handler } from '../context.ts';

export const chain: Handler = async (ctx, app) => {
  // Nothing varies per request: a query here is a misconfigured DHCP filename, better told than ignored.
  if (ctx.url.search) throw new LpmosError(ErrorCode.Usage, '/boot.ipxe takes no query: the machine sends its identity to /boot/ipxe');
  sendScript(ctx, chainScript(app.scriptEnv(ctx.req)));
};
