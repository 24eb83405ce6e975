// GRUB menus over HTTP for clients that are not iPXE (shim + grubnetx64.efi for Secure Boot):
// /boot/grub.cfg?mac=…, /boot/grub.cfg-01-<mac>, /boot/grub/grub.cfg-01-<mac>, /boot/grub/grub.cfg.
import { grubMenu } from '../boot-scripts.ts';
import { sendScript, type Handler } from '../context.ts';
import { menuMachine, PATH_MAC } from './menu-machine.ts';

const WITH_MAC = new RegExp(`^/boot/(?:grub/)?grub\\.cfg-${PATH_MAC}$`);

export function matchGrub(path: string): { mac?: string } | undefined {
  if (path === '/boot/grub.cfg' || path === '/boot/grub/grub.cfg') return {};
  const m = WITH_MAC.exec(path);
  return m ? { mac: m[1]! } : undefined;
}

export const grub: Handler = async (ctx, app) => {
  const machine = await menuMachine(ctx, app, matchGrub(ctx.url.pathname)?.mac);
  sendScript(ctx, grubMenu(app.scriptEnv(ctx.req), machine));
};
