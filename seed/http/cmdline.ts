// The agent's kernel command line (pure). The agent's settings are the contract in core/cmdline.ts
// (lpmos.seed, lpmos.etcd, lpmos.site, lpmos.prefix, lpmos.machine, lpmos.bootstrap, BOOTIF), encoded
// by it; the boot scripts add what only they know:
//   lpmos.action=<action>  what the seed had in mind when it rendered the script (for the console/logs;
//                          the agent follows its spec in etcd, not this)
//   rdinit=/stage0/init    iPXE on BIOS boots through the ramdisk's stage 0 (core/stage0.ts)
//   initrd=<name>          iPXE on UEFI hands the ramdisk to the kernel's EFI stub only when the command
//                          line names it (LAB-NOTES: Debian's 2019 iPXE needs it); BIOS/GRUB ignore it
//   console=…              site console settings, then site-wide extras, then the machine's own
//                          (spec.overrides.kernelCmdline) last, so the operator's word wins.
import { encodeAgentCmdline } from '../../core/cmdline.ts';
import type { Action } from '../../core/model/spec.ts';
import { STAGE0_RDINIT } from '../../core/stage0.ts';

export type BootAction = Action | 'discover';

export interface AgentArgs {
  seedUrl: string;
  etcd: readonly string[];
  site: string;
  prefix: string;
  /** libp2p bootstrap multiaddrs (comma-separated in the config). */
  swarmBootstrap?: string | undefined;
  machineId?: string | undefined;
  action: BootAction;
  /** The MAC that booted, as BOOTIF; omitted where the loader appends it (pxelinux IPAPPEND 2). */
  mac?: string | undefined;
  /** Name of the initrd image as the boot loader registered it (iPXE only). */
  initrdName?: string | undefined;
  /** Boot through the ramdisk's stage 0 (rdinit=/stage0/init, core/stage0.ts). */
  stage0?: boolean | undefined;
  console: string;
  extra?: readonly string[];
}

/** A value on the command line must be one word: the kernel splits on spaces (quotes aside). */
function word(name: string, value: string): string {
  if (!/^[\x21-\x7e]+$/.test(value)) throw new TypeError(`kernel argument ${name}: "${value}" must be printable ASCII without spaces`);
  return `${name}=${value}`;
}

export function agentCmdline(a: AgentArgs): string {
  const args = [
    encodeAgentCmdline({
      seed: a.seedUrl,
      etcd: [...a.etcd],
      site: a.site,
      prefix: a.prefix,
      bootstrap: (a.swarmBootstrap ?? '').split(',').map((s) => s.trim()).filter(Boolean),
      ...(a.machineId ? { machine: a.machineId } : {}),
      ...(a.mac ? { bootMac: a.mac } : {}),
    }),
    word('lpmos.action', a.action),
  ];
  if (a.initrdName) args.push(word('initrd', a.initrdName));
  if (a.stage0) args.push(STAGE0_RDINIT);
  for (const part of [a.console, ...(a.extra ?? [])]) if (part.trim()) args.push(part.trim());
  return args.join(' ');
}
