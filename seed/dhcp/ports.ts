// What the DHCP server needs from the machine registry: a narrow port, so the server can be
// tested against any implementation and the registry can change behind it.
import type { MachineView } from './plan.ts';

export interface Discovered {
  mac: string;
  uuid?: string;
  /** Raw option 93 architecture, for the operator. */
  archCode?: number;
  hostname?: string;
}

export interface RelayLocation {
  /** giaddr of the relay the request came through. */
  relay: string;
  circuitId?: string;
  remoteId?: string;
}

export interface MachinePort {
  /** The machine a MAC belongs to, with its spec action and fixed address. */
  byMac(mac: string, signal?: AbortSignal): Promise<MachineView | undefined>;
  /** Records an unknown boot client as a discovered machine; returns it (or the existing one). */
  enroll(d: Discovered, signal?: AbortSignal): Promise<MachineView>;
  /** Writes where a machine is (option 82 of its relay), when it changed. */
  recordLocation(id: string, loc: RelayLocation, signal?: AbortSignal): Promise<void>;
  /** Fixed addresses of every machine (DHCP reservations), as 32-bit numbers with their MACs. */
  reservations(): ReadonlyMap<number, readonly string[]>;
}
