// Per-machine boot menus served over TFTP for boot loaders that read their config by TFTP:
// pxelinux (`pxelinux.cfg/01-<mac>`, then `default`) and GRUB netboot (`grub.cfg-01-<mac>`, in the
// root or next to the prefix, then `grub/grub.cfg`). Rendered from the machine's state in etcd
// through templates/pxelinux.cfg.hbs and templates/grub.cfg.hbs on every request, so a changed
// spec takes effect at the next boot.
//
// Decision per machine: `localboot` boots the local disk; every other action (inspect, install,
// wipe, rescue) and an unknown or spec-less machine ('discover': the agent enrols it and waits)
// boots the LPMOS agent kernel and ramdisk over HTTP.
import type { Action } from '../../core/model/spec.ts';
import { renderTemplate } from '../../templates/render.ts';
import type { DynamicFiles } from './files.ts';

export type BootAction = Action | 'discover';

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

export interface BootMenuConfig {
  /** The seed's HTTP server as machines reach it, e.g. `http://10.213.16.1:8080`. */
  httpBase: string;
  /** Paths of the agent kernel and ramdisk on that server. */
  agentKernel: string;
  agentInitrd: string;
  /** Extra kernel arguments for every machine (e.g. `console=ttyS0,115200`). */
  cmdline: string;
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

/** The template context of a menu (pure). */
export function menuContext(cfg: BootMenuConfig, machine: MachineBoot | undefined): object {
  const base = new URL(cfg.httpBase);
  const action: BootAction = machine?.action ?? 'discover';
  const args = [`lpmos.seed=${base.origin}`, `lpmos.action=${action}`];
  if (machine) args.push(`lpmos.machine=${machine.id}`);
  if (cfg.cmdline) args.push(cfg.cmdline);
  if (machine?.kernelCmdline) args.push(machine.kernelCmdline);
  // GRUB names an HTTP file as (http,host:port)/path.
  const grub = (path: string): string => `(http,${base.host})${path}`;
  return {
    title: machine ? `machine ${machine.id} (${machine.mac})` : 'an unknown machine',
    action,
    localboot: action === 'localboot',
    agent: {
      kernel: new URL(cfg.agentKernel, base).href,
      initrd: new URL(cfg.agentInitrd, base).href,
      grubKernel: grub(cfg.agentKernel),
      grubInitrd: grub(cfg.agentInitrd),
      cmdline: args.join(' '),
    },
  };
}

export class BootMenus implements DynamicFiles {
  readonly #port: MachineBootPort;
  readonly #cfg: BootMenuConfig;

  constructor(port: MachineBootPort, cfg: BootMenuConfig) {
    this.#port = port;
    this.#cfg = cfg;
    new URL(cfg.httpBase); // fail at start, not at the first boot
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
    const template = req.kind === 'pxelinux' ? 'pxelinux.cfg' : 'grub.cfg';
    return Buffer.from(renderTemplate(template, menuContext(this.#cfg, machine)), 'utf8');
  }
}
