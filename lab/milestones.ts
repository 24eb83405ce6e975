// Where a lab machine's boot time goes: milestones recognised on its serial console (firmware, iPXE,
// the agent's kernel, the ramdisk's init, the agent), timestamped by the host when first seen.
// The patterns are pure; MilestoneWatch polls the serial log gently (a file read per second).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Vm } from './vm.ts';

export const MILESTONES = [
  { name: 'firmware-pxe', pattern: /iPXE initialising devices|Start PXE over IPv4/ },
  { name: 'ipxe-script', pattern: /http:\/\/\S+\/boot\.ipxe\.\.\./ },
  { name: 'agent-download', pattern: /loading the agent/ },
  { name: 'kernel', pattern: /Linux version \d/ },
  // With the ramdisk's stage 0 (iPXE on BIOS) the ramdisk's /init starts once stage 0 has unpacked it.
  { name: 'init', pattern: /Run \/init as init process|lpmos-stage0: unpacked \d+ layers/ },
  { name: 'dhcp', pattern: /lpmos-init: DHCP on/ },
  { name: 'agent', pattern: /"msg":"agent starting"/ },
  { name: 'inventory', pattern: /"msg":"inventory reported"/ },
] as const;

export type MilestoneName = (typeof MILESTONES)[number]['name'];

/** Milestones present in a serial log text, in boot order. */
export function milestonesIn(text: string): MilestoneName[] {
  return MILESTONES.filter((m) => m.pattern.test(text)).map((m) => m.name);
}

export class MilestoneWatch {
  /** Seconds after the VM started when each milestone was first seen. */
  readonly seen = new Map<MilestoneName, number>();
  readonly #vm: Vm;
  #stopped = false;
  readonly done: Promise<void>;

  constructor(vm: Vm, intervalMs = 1000) {
    this.#vm = vm;
    this.done = this.#loop(intervalMs);
  }

  async #loop(intervalMs: number): Promise<void> {
    while (!this.#stopped) {
      const at = (Date.now() - this.#vm.startedAt) / 1000;
      for (const name of milestonesIn(await this.#vm.serialText())) if (!this.seen.has(name)) this.seen.set(name, at);
      await sleep(intervalMs, undefined, { ref: false });
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.done;
  }

  /** `firmware-pxe 2.0 s, ipxe-script 21.3 s, …` */
  summary(): string {
    return MILESTONES.filter((m) => this.seen.has(m.name)).map((m) => `${m.name} ${this.seen.get(m.name)!.toFixed(0)}`).join(', ');
  }
}
