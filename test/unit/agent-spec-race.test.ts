// The agent follows its spec from the moment it reported (agent/agent.ts runAgent): a spec put that
// lands between its read of the spec and the start of its watch must not be lost. A UEFI agent in a
// test:install run never acted on its assignment for exactly this interleaving (the store's revision
// was read after the spec). The store here is the in-memory twin (it passes the Store contract) with
// the put injected right after the agent's spec read returns.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../core/keys.ts';
import { silentLogger } from '../../core/log.ts';
import type { Inventory } from '../../core/model/inventory.ts';
import type { Spec } from '../../core/model/spec.ts';
import type { Store } from '../../core/store/store.ts';
import { encode } from '../../core/registry/records.ts';
import { MemoryStore } from '../../store/memory.ts';
import { runAgent } from '../../agent/agent.ts';

const keys = new Keys('/lpmos/', 'race');
const none = { vendor: null, product: null, version: null, serial: null };
const inventory: Inventory = {
  version: 1, collectedAt: new Date().toISOString(),
  cpu: { model: null, vendor: null, arch: 'x86_64', sockets: 1, cores: 1, threads: 1 },
  memory: { totalBytes: 2 ** 30, installedBytes: 2 ** 30, dimms: [] },
  dmi: { system: { ...none, uuid: null, sku: null, family: null }, board: none, bios: { vendor: null, version: null, date: null } },
  serial: null, uuid: null, disks: [],
  nics: [{ name: 'ens3', mac: '52:54:00:00:00:09', currentMac: null, link: 'up', speedMbps: null, driver: 'virtio_net', pciAddress: null, mtu: 1500, kind: 'physical', master: null, members: [] }],
  raidControllers: [], virtualization: 'qemu', container: 'none', bootMode: 'uefi', unknown: [],
} as Inventory;

/** The twin, with `between` run once right after the first read of `key` has returned. */
function storeWithPutAfterRead(inner: MemoryStore, key: () => string, between: (s: Store) => Promise<void>): Store {
  let done = false;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'get' || typeof v !== 'function') return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      return async (k: string, opts?: unknown) => {
        const r = await (v as (k: string, o?: unknown) => Promise<unknown>).call(target, k, opts);
        if (!done && k === key()) {
          done = true;
          await between(target);
        }
        return r;
      };
    },
  });
}

describe('agent: spec changes around its first read', () => {
  for (const existing of [false, true]) {
    it(`a spec put between the read and the watch is acted on (${existing ? 'an older spec existed' : 'no spec yet'})`, async () => {
      const mem = new MemoryStore();
      let machine = '';
      const spec = (action: Spec['action']): string => encode({ action, ...(action === 'install' ? { profile: 'p1' } : {}), updatedAt: new Date().toISOString() });
      const store = storeWithPutAfterRead(mem, () => keys.spec(machine), async (s) => {
        await s.put(keys.spec(machine), spec('install'));
      });
      const seen: (string | undefined)[] = [];
      const ac = new AbortController();
      const got = new Promise<void>((resolve) => {
        void runAgent({
          store, keys, logger: silentLogger(), collect: async () => inventory,
          onMachine: async (id) => {
            machine = id;
            if (existing) await mem.put(keys.spec(id), spec('inspect'));
            return (s) => {
              seen.push(s?.action);
              if (s?.action === 'install') resolve();
            };
          },
        }, { bootMac: '52:54:00:00:00:09' }, ac.signal);
      });
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the install spec was never acted on (seen: ${JSON.stringify(seen)})`)), 5000).unref());
      try {
        await Promise.race([got, timeout]);
      } finally {
        ac.abort();
      }
      assert.deepEqual(seen, [existing ? 'inspect' : undefined, 'install']);
    });
  }
});
