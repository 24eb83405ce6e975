// MachinePort on the Store: an in-memory index of machines (MAC → id, fixed address, spec action)
// loaded with one listing and kept current by a watch, so a DHCP packet never waits for etcd to
// find its machine. Enrolment and location writes go through compare-and-swap transactions.
import type { Logger } from '../../core/log.ts';
import type { Keys } from '../../core/keys.ts';
import type { Store, WatchEvent } from '../../core/store/store.ts';
import { machineSchema, nameFromMac, type Machine } from '../../core/model/machine.ts';
import { specSchema } from '../../core/model/spec.ts';
import { addMachine, machineWrite } from '../../core/registry/machines.ts';
import { isLpmosError } from '../../core/errors.ts';
import { z } from 'zod';
import type { MachineView } from './plan.ts';
import type { Discovered, MachinePort, RelayLocation } from './ports.ts';
import { ipToInt } from './options.ts';

interface Entry { machine: Machine; rev: number; action?: string }

export class StoreMachines implements MachinePort {
  readonly #store: Store;
  readonly #keys: Keys;
  readonly #log: Logger;
  readonly #byId = new Map<string, Entry>();
  readonly #idByMac = new Map<string, string>();
  readonly #actions = new Map<string, string>();
  #reservations = new Map<number, string[]>();
  #reservationsStale = true;
  #stop = new AbortController();

  constructor(store: Store, keys: Keys, log: Logger) {
    this.#store = store;
    this.#keys = keys;
    this.#log = log;
  }

  /** Loads the index and follows changes until stop(). */
  async start(signal?: AbortSignal): Promise<void> {
    this.#stop = new AbortController();
    const { kvs, revision } = await this.#store.list(this.#keys.machines(), signal ? { signal } : {});
    for (const kv of kvs) this.#apply({ type: 'put', key: kv.key, value: kv.value, modRevision: kv.modRevision });
    const stop = this.#stop.signal;
    void (async () => {
      try {
        for await (const ev of this.#store.watch(this.#keys.machines(), { signal: stop, fromRevision: revision + 1 })) {
          this.#apply(ev);
        }
      } catch (e) {
        if (!stop.aborted) this.#log.error({ err: e }, 'dhcp: machine watch ended; machine lookups may be stale');
      }
    })();
  }

  stop(): void {
    this.#stop.abort();
  }

  #apply(ev: WatchEvent): void {
    const k = this.#keys.parseMachineKey(ev.key);
    if (!k) return;
    if (k.part === 'identity') this.#reservationsStale = true;
    if (k.part === 'identity') {
      const old = this.#byId.get(k.id);
      for (const mac of old?.machine.macs ?? []) if (this.#idByMac.get(mac) === k.id) this.#idByMac.delete(mac);
      this.#byId.delete(k.id);
      if (ev.type === 'delete' || ev.value === undefined) return;
      try {
        const machine = machineSchema.parse(JSON.parse(ev.value));
        this.#byId.set(k.id, { machine, rev: ev.modRevision });
        for (const mac of machine.macs) this.#idByMac.set(mac, k.id);
      } catch {
        this.#log.warn({ key: ev.key }, 'dhcp: machine record does not match its schema; ignored');
      }
    } else if (k.part === 'spec') {
      if (ev.type === 'delete' || ev.value === undefined) { this.#actions.delete(k.id); return; }
      const r = specSchema.safeParse(JSON.parse(ev.value));
      if (r.success) this.#actions.set(k.id, r.data.action);
    }
  }

  #rebuildReservations(): void {
    const m = new Map<number, string[]>();
    for (const { machine } of this.#byId.values()) if (machine.ipv4) m.set(ipToInt(machine.ipv4), machine.macs);
    this.#reservations = m;
    this.#reservationsStale = false;
  }

  reservations(): ReadonlyMap<number, readonly string[]> {
    if (this.#reservationsStale) this.#rebuildReservations();
    return this.#reservations;
  }

  #view(id: string): MachineView | undefined {
    const e = this.#byId.get(id);
    if (!e) return undefined;
    const v: MachineView = { id };
    const action = this.#actions.get(id);
    if (action) v.action = action;
    if (e.machine.ipv4) v.ipv4 = e.machine.ipv4;
    return v;
  }

  async byMac(mac: string): Promise<MachineView | undefined> {
    const id = this.#idByMac.get(mac);
    return id ? this.#view(id) : undefined;
  }

  async enroll(d: Discovered, signal?: AbortSignal): Promise<MachineView> {
    const known = await this.byMac(d.mac);
    if (known) return known;
    const name = nameFromMac(d.mac);
    const uuid = d.uuid && z.uuid().safeParse(d.uuid).success ? d.uuid : undefined;
    const labels: Record<string, string> = { 'lpmos/enrolled-by': 'dhcp' };
    if (d.archCode !== undefined) labels['lpmos/arch'] = String(d.archCode);
    try {
      const machine = await addMachine(this.#store, this.#keys, { name, macs: [d.mac], labels, ...(uuid ? { uuid } : {}) });
      const now = new Date().toISOString();
      // Lifecycle starts at `discovered` (DESIGN §2); written only if nobody wrote a status yet.
      await this.#store.txn([{ key: this.#keys.status(name), modRevision: 0 }], [{ type: 'put', key: this.#keys.status(name), value: JSON.stringify({ state: 'discovered', since: now, updatedAt: now }) }], signal ? { signal } : {});
      const rev = await this.#store.revision();
      this.#apply({ type: 'put', key: this.#keys.machine(name), value: JSON.stringify(machine), modRevision: rev });
      this.#log.info({ mac: d.mac, machine: name }, 'dhcp: enrolled a discovered machine');
    } catch (e) {
      // Another seed or handler enrolled it first: fine, read what is there.
      if (!isLpmosError(e, 'E_DUPLICATE') && !isLpmosError(e, 'E_CONFLICT')) throw e;
      const id = (await this.#store.get(this.#keys.macIndex(d.mac)))?.value ?? name;
      const kv = await this.#store.get(this.#keys.machine(id));
      if (kv) this.#apply({ type: 'put', key: kv.key, value: kv.value, modRevision: kv.modRevision });
    }
    return (await this.byMac(d.mac)) ?? { id: name };
  }

  async recordLocation(id: string, loc: RelayLocation, signal?: AbortSignal): Promise<void> {
    // Most requests of a machine come through the same relay port: no store round trip for those.
    const known = this.#byId.get(id)?.machine.location;
    if (known && known.relay === loc.relay && known.circuitId === loc.circuitId && known.remoteId === loc.remoteId) return;
    for (let attempt = 0; attempt < 3; attempt++) {
      const kv = await this.#store.get(this.#keys.machine(id), signal ? { signal } : {});
      if (!kv) return;
      const machine = machineSchema.parse(JSON.parse(kv.value));
      const cur = machine.location;
      if (cur && cur.relay === loc.relay && cur.circuitId === loc.circuitId && cur.remoteId === loc.remoteId) return;
      const next: Machine = {
        ...machine,
        location: { relay: loc.relay, ...(loc.circuitId ? { circuitId: loc.circuitId } : {}), ...(loc.remoteId ? { remoteId: loc.remoteId } : {}), seenAt: new Date().toISOString() },
      };
      const w = await machineWrite(this.#store, this.#keys, next, { value: machine, modRevision: kv.modRevision });
      const r = await this.#store.txn(w.compares, w.ops, signal ? { signal } : {});
      if (r.succeeded) {
        this.#apply({ type: 'put', key: kv.key, value: JSON.stringify(next), modRevision: r.revision });
        return;
      }
    }
    this.#log.warn({ machine: id }, 'dhcp: location not recorded: the machine kept changing');
  }
}
