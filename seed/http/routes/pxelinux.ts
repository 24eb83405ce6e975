// pxelinux menus over HTTP (lpxelinux.0 with an http:// path prefix asks for pxelinux.cfg/<uuid>,
// pxelinux.cfg/01-<mac>, pxelinux.cfg/<hex ip…>, pxelinux.cfg/default in turn): the MAC form and
// `default` are answered, the others are 404 so that it goes on. Also /boot/pxelinux.cfg?mac=….
import { ErrorCode, LpmosError } from '../../../core/errors.ts';
import { pxelinuxMenu } from '../boot-scripts.ts';
import { sendScript, type Handler } from '../context.ts';
import { menuMachine, PATH_MAC } from './menu-machine.ts';

const WITH_MAC = new RegExp(`^/boot/pxelinux\\.cfg/${PATH_MAC}$`);

/** undefined: not a pxelinux path; `other`: a pxelinux name we do not serve (UUID, hex IP). */
export function matchPxelinux(path: string): { mac?: string; other?: true } | undefined {
  if (path === '/boot/pxelinux.cfg' || path === '/boot/pxelinux.cfg/default') return {};
  const m = WITH_MAC.exec(path);
  if (m) return { mac: m[1]! };
  return path.startsWith('/boot/pxelinux.cfg/') ? { other: true } : undefined;
}

export const pxelinux: Handler = async (ctx, app) => {
  const match = matchPxelinux(ctx.url.pathname);
  if (match?.other) throw new LpmosError(ErrorCode.NotFound, `${ctx.url.pathname}: menus are served by MAC (01-aa-bb-cc-dd-ee-ff) and as default`);
  const machine = await menuMachine(ctx, app, match?.mac);
  sendScript(ctx, pxelinuxMenu(app.scriptEnv(ctx.req), machine));
};
