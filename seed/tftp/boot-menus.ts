// Per-machine boot menus served over TFTP for boot loaders that read their config by TFTP:
// pxelinux (`pxelinux.cfg/01-<mac>`, then `default`) and GRUB netboot (`grub.cfg-01-<mac>`, in the
// root or next to the prefix, then `grub/grub.cfg`). Rendered from the machine's state in etcd on
// every request, so a changed spec takes effect at the next boot. The menus are the same as the
// HTTP server's (seed/http/boot-scripts.ts: templates/pxelinux.cfg.hbs and grub.cfg.hbs, the agent
// command line of core/cmdline.ts), so a machine boots alike whichever way its loader asks.
//
// Decision per machine: `localboot` boots the local disk; every other action (inspect, install,
// wipe, rescue) and an unknown or spec-less machine ('discover': the agent enrols it and waits)
// boots the LPMOS agent kernel and ramdisk over HTTP.
import { grubMenu, pxelinuxMenu, type ScriptEnv } from '../http/boot-scripts.ts';
import type { BootAction } from '../http/cmdline.ts';
import type { DynamicFiles } from './files.ts';
export type { BootAction };

export interface MachineBoot {
  id: string;
  mac: string;
  action: BootAction;
  /** spec.overrides.kernelCmdline */
  kernelCmdline?: string;
}

/** What the menus need from the state store (implemented on the Store in machine-port.ts). */
export interface MachineBootPort {
  byMac(mac: string, signal: AbortSignal): Promise<MachineBoot | undefined>;
  /** The machine holding a DHCP lease on this address, for requests that carry no MAC. */
  byIp(ip: string, signal: AbortSignal): Promise<MachineBoot | undefined>;
}

export type MenuRequest = { kind: 'pxelinux' | 'grub'; mac?: string };

const HEX_MAC = '([0-9a-fA-F]{2}(?:-[0-9a-fA-F]{2}){5})';
const PXELINUX_MAC = new RegExp(`^pxelinux\\.cfg/01-${HEX_MAC}$`);
const GRUB_MAC = new RegExp(`^(?:[^/]+/)*grub\\.cfg-01-${HEX_MAC}$`);
const GRUB_DEFAULT = /^(?:(?:boot\/)?grub\/)?grub\.cfg$/;

/** Which menu a (confined, normalised) TFTP path asks for; undefined for every other file. */
export function parseMenuPath(path: string): MenuRequest | undefined {
  let m = PXELINUX_MAC.exec(path);
  if (m) return { kind: 'pxelinux', mac: m[1]!.toLowerCase().replaceAll('-', ':') };
  if (path === 'pxelinux.cfg/default') return { kind: 'pxelinux' };
  m = GRUB_MAC.exec(path);
  if (m) return { kind: 'grub', mac: m[1]!.toLowerCase().replaceAll('-', ':') };
  if (GRUB_DEFAULT.test(path)) return { kind: 'grub' };
  return undefined;
}

export class BootMenus implements DynamicFiles {
  readonly #port: MachineBootPort;
  readonly #env: () => ScriptEnv;

  /** `env`: the HTTP side's script settings (seed URL as machines reach it, agent artifacts, console). */
  constructor(port: MachineBootPort, env: ScriptEnv | (() => ScriptEnv)) {
    this.#port = port;
    this.#env = typeof env === 'function' ? env : () => env;
  }

  async resolve(path: string, client: { address: string }, signal: AbortSignal): Promise<Buffer | undefined> {
    const req = parseMenuPath(path);
    if (!req) return undefined;
    let machine: MachineBoot | undefined;
    if (req.mac) {
      machine = await this.#port.byMac(req.mac, signal);
      // Unknown MAC: not found, so pxelinux/GRUB go on to their default file, which is rendered.
      if (!machine) return undefined;
    } else {
      machine = await this.#port.byIp(client.address, signal);
    }
    const env = this.#env();
    return Buffer.from(req.kind === 'pxelinux' ? pxelinuxMenu(env, machine) : grubMenu(env, machine), 'utf8');
  }
}
