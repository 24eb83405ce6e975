// An agent whose store is closed under it (the etcd client shut while its swarm still runs) stops
// following etcd: its peer allow-list and progress-acknowledgement watches end. Before, the etcd
// store answered a watch opened after close() with one that ended at once, and both followers
// watched again in a loop that never yielded: 100 % CPU, timers never fired, the process hung.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { addMachine } from '../../core/registry/machines.ts';
import { AgentSwarm } from '../../swarm/agent-swarm.ts';
import { until } from '../helpers/until.ts';
import { SeedFixture } from './seed-fixture.ts';

const fx = new SeedFixture('closed', 'lpm-closed');
after(() => fx.stop());

test('an agent whose store is closed under it stops following etcd: its event loop stays free', async () => {
  const { store, seed } = await fx.start({ 'x.img': 1000 });
  await addMachine(store, fx.keys, { name: 'closed-1', macs: ['52:54:00:c4:01:01'] });
  const a = await AgentSwarm.start({ store, keys: fx.keys, site: 'closed', machine: 'closed-1', bootstrap: seed.bootstrapAddrs(), listen: ['/ip4/127.0.0.1/tcp/0'] });
  fx.cleanups.push(() => a.stop(0));
  await until('connected to the seed', () => seed.swarm.node.isConnected(a.peerId));
  await store.close();
  const u0 = process.cpuUsage();
  const t0 = Date.now();
  // A timer must fire on time: a follower spinning on microtasks would hold it back for good.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const late = Date.now() - t0 - 2000;
  const u = process.cpuUsage(u0);
  const share = (u.user + u.system) / 1000 / (Date.now() - t0);
  assert.ok(late < 1000, `a 2 s timer fired ${late} ms late`);
  assert.ok(share < 0.5, `the process used ${(100 * share).toFixed(0)} % of a core while idle`);
});
