import { MemoryCluster, MemoryStore } from '../../store/memory.ts';
import { storeContract } from '../contract/store-contract.ts';

storeContract('memory', async () => {
  const cluster = new MemoryCluster();
  const store = new MemoryStore(cluster);
  const others: MemoryStore[] = [];
  return {
    store,
    open: async () => {
      const s = new MemoryStore(cluster);
      others.push(s);
      return s;
    },
    compact: async (revision) => cluster.compact(revision),
    revokeElsewhere: async (id) => {
      cluster.revokeLease(id);
    },
    teardown: async () => {
      await store.close();
      for (const s of others) await s.close();
    },
  };
});
