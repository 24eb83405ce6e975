// Boot scripts rendered from a machine's state (pure: the store was read before). Decision per
// machine, the same as the TFTP menus (seed/tftp/boot-menus.ts): `localboot` boots the local disk;
// every other action (inspect, install, wipe, rescue) and a machine without a spec (`discover`)
// boots the LPMOS agent kernel and ramdisk over HTTP. Templates: templates/ipxe-*.hbs (ours),
// templates/grub.cfg.hbs and templates/pxelinux.cfg.hbs (shared with the TFTP menus).
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { renderTemplate } from '../../templates/render.ts';
import type { Arch, Platform } from './boot-query.ts';
import { agentCmdline, type BootAction } from './cmdline.ts';
import { KEPT_INITRD_PATH } from '../../core/stage0.ts';

/** What every script needs from the seed's configuration. */
export interface ScriptEnv {
  /** The seed as this client reached it, without a trailing slash. */
  seedUrl: string;
  etcd: readonly string[];
  site: string;
  prefix: string;
  swarmBootstrap?: string | undefined;
  agentKernel: string;
  agentInitrd: string;
  /** Artifact name of the ramdisk's stage 0, when the seed has it (iPXE on BIOS then boots through it). */
  agentStage0?: string | undefined;
  console: string;
  cmdline: string;
}

export interface ScriptMachine {
  id: string;
  mac: string;
  action: BootAction;
  kernelCmdline?: string;
}

/** Architectures whose iPXE can start the x86-64 agent kernel (i386: undionly.kpxe on a 64-bit CPU). */
const AGENT_ARCHES: ReadonlySet<Arch> = new Set(['i386', 'x86_64']);

export function artifactUrl(env: ScriptEnv, name: string): string {
  return `${env.seedUrl}/artifacts/${name.split('/').map(encodeURIComponent).join('/')}`;
}

function title(m: ScriptMachine | undefined): string {
  return m ? `machine ${m.id} (${m.mac})` : 'an unknown machine';
}

/** The operator's per-machine kernel arguments go into scripts verbatim: one printable line only. */
function machineExtra(m: ScriptMachine | undefined): string[] {
  const extra = m?.kernelCmdline;
  if (extra === undefined || extra === '') return [];
  if (!/^[\x20-\x7e]+$/.test(extra)) {
    throw new LpmosError(ErrorCode.Validation, `machine "${m?.id}": spec.overrides.kernelCmdline must be printable ASCII on one line`, {
      details: [{ path: `machine/${m?.id}: spec.overrides.kernelCmdline`, message: 'holds a line break or a non-ASCII character' }],
    });
  }
  return [extra];
}

function cmdline(env: ScriptEnv, m: ScriptMachine | undefined, opts: { mac?: string | undefined; initrdName?: string; stage0?: boolean }): string {
  return agentCmdline({
    seedUrl: env.seedUrl,
    etcd: env.etcd,
    site: env.site,
    prefix: env.prefix,
    swarmBootstrap: env.swarmBootstrap,
    machineId: m?.id,
    action: m?.action ?? 'discover',
    mac: opts.mac,
    initrdName: opts.initrdName,
    stage0: opts.stage0,
    console: env.console,
    extra: [env.cmdline, ...machineExtra(m)],
  });
}

/** `/boot.ipxe`: the static chain script that sends this machine's identity. */
export function chainScript(env: ScriptEnv): string {
  return renderTemplate('ipxe-chain', { seedUrl: env.seedUrl });
}

/** `/boot/ipxe`: the agent, or the local disk for `localboot` (BIOS, UEFI, or decided by iPXE when the platform is unknown). */
export function ipxeScript(env: ScriptEnv, m: ScriptMachine, client: { arch?: Arch | undefined; platform?: Platform | undefined }): string {
  if (m.action === 'localboot') {
    return renderTemplate('ipxe-localboot', { title: title(m), bios: client.platform === 'pcbios', efi: client.platform === 'efi' });
  }
  if (client.arch && !AGENT_ARCHES.has(client.arch)) {
    throw new LpmosError(ErrorCode.Validation, `no LPMOS agent for ${client.arch}: the seed serves an x86-64 agent only`, { details: [{ path: 'query.arch', message: `${client.arch} is not supported by the agent` }] });
  }
  const initrdName = env.agentInitrd.split('/').at(-1) ?? env.agentInitrd;
  // Stage 0 only where iPXE wraps a file into the initramfs: BIOS (decided in iPXE when the query did not say).
  const stage0 = env.agentStage0 && client.platform !== 'efi'
    ? { url: artifactUrl(env, env.agentStage0), keptPath: KEPT_INITRD_PATH, cmdline: cmdline(env, m, { mac: m.mac, stage0: true }) }
    : false;
  return renderTemplate('ipxe-agent', {
    title: title(m),
    action: m.action,
    kernelUrl: artifactUrl(env, env.agentKernel),
    initrdUrl: artifactUrl(env, env.agentInitrd),
    initrdName,
    cmdline: cmdline(env, m, { mac: m.mac, initrdName }),
    stage0,
  });
}

/** Context of templates/grub.cfg.hbs and templates/pxelinux.cfg.hbs (shared with the TFTP menus). */
function menuContext(env: ScriptEnv, m: ScriptMachine | undefined, withBootif: boolean): object {
  const base = new URL(env.seedUrl);
  const grub = (name: string): string => `(http,${base.host})${new URL(artifactUrl(env, name)).pathname}`;
  const action = m?.action ?? 'discover';
  return {
    title: title(m),
    action,
    localboot: action === 'localboot',
    agent: {
      kernel: artifactUrl(env, env.agentKernel),
      initrd: artifactUrl(env, env.agentInitrd),
      grubKernel: grub(env.agentKernel),
      grubInitrd: grub(env.agentInitrd),
      cmdline: cmdline(env, m, { mac: withBootif ? m?.mac : undefined }),
    },
  };
}

/** GRUB (grubnetx64.efi, also behind shim for Secure Boot): BOOTIF when the MAC is known. */
export function grubMenu(env: ScriptEnv, m: ScriptMachine | undefined): string {
  return renderTemplate('grub.cfg', menuContext(env, m, true));
}

/** lpxelinux.0 reading its config over HTTP: its `IPAPPEND 2` adds BOOTIF itself. */
export function pxelinuxMenu(env: ScriptEnv, m: ScriptMachine | undefined): string {
  return renderTemplate('pxelinux.cfg', menuContext(env, m, false));
}
