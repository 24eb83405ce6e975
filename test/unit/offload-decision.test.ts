// The boot-storm offload's decision (seed/offload-decision.ts): who sends a booting machine its boot file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_POLICY, RedirectLedger, decideOffload, parseCidr, type Cidr, type OffloadCandidate, type OffloadState } from '../../seed/offload-decision.ts';
import { provisioningNetworks } from '../../seed/offload.ts';

const nets = ['10.213.112.0/24', '10.213.113.0/24'].map((c) => parseCidr(c) as Cidr);
const h = (peerId: string, ip: string, at = 0, complete = true): OffloadCandidate => ({ peerId, ip, url: `http://${ip}:8000/blobs/x`, complete, at });
const get = { method: 'GET', range: false, retries: false };

function state(holders: OffloadCandidate[], active: Record<string, number> = {}, over: Partial<OffloadState> = {}): OffloadState {
  return { on: true, networks: nets, holders, activeTo: (p) => active[p] ?? 0, seedActive: 0, policy: DEFAULT_POLICY, ...over };
}

test('same subnet first, then least loaded, then freshest; never the requester; incomplete holders not chosen', () => {
  const hs = [h('far', '10.213.113.5', 9), h('near-busy', '10.213.112.6', 5), h('near', '10.213.112.7', 1), h('half', '10.213.112.8', 10, false), h('self', '10.213.112.9', 20)];
  const d = decideOffload({ ...get, client: '10.213.112.9' }, state(hs, { 'near-busy': 1 }));
  assert.deepEqual(d.kind === 'redirect' && [d.to.peerId, d.reason], ['near', 'same_subnet']);
  const d2 = decideOffload({ ...get, client: '10.213.112.9' }, state(hs, { 'near-busy': 2, near: 2 }));
  assert.deepEqual(d2.kind === 'redirect' && [d2.to.peerId, d2.reason], ['far', 'other_subnet']);
  const d3 = decideOffload({ ...get, client: '::ffff:10.213.112.9' }, state([h('a', '10.213.112.7', 1), h('b', '10.213.112.8', 2)]));
  assert.equal(d3.kind === 'redirect' && d3.to.peerId, 'b', 'equal load: the freshest announcement');
});

test('holders at their cap: curl is served, iPXE waits; no holder: served until the seed sends seedConcurrent copies', () => {
  const hs = [h('a', '10.213.112.7')];
  assert.deepEqual(decideOffload({ ...get, client: '10.213.112.9' }, state(hs, { a: 2 })), { kind: 'serve', reason: 'holders_busy' });
  assert.deepEqual(decideOffload({ ...get, retries: true, client: '10.213.112.9' }, state(hs, { a: 2 })), { kind: 'busy', reason: 'holders_busy', retryAfterS: DEFAULT_POLICY.retryAfterS });
  assert.deepEqual(decideOffload({ ...get, retries: true, client: '10.213.112.9' }, state([], {}, { seedActive: 1 })), { kind: 'serve', reason: 'no_holder' });
  assert.deepEqual(decideOffload({ ...get, retries: true, client: '10.213.112.9' }, state([], {}, { seedActive: 2 })).kind, 'busy');
  assert.deepEqual(decideOffload({ ...get, client: '10.213.112.9' }, state([], {}, { seedActive: 2 })), { kind: 'serve', reason: 'no_holder' });
});

test('off, HEAD, Range and clients outside the provisioning networks are served by the seed', () => {
  const hs = [h('a', '10.213.112.7')];
  assert.deepEqual(decideOffload({ ...get, client: '10.213.112.9' }, state(hs, {}, { on: false })), { kind: 'serve', reason: 'off' });
  assert.deepEqual(decideOffload({ ...get, method: 'HEAD', client: '10.213.112.9' }, state(hs)), { kind: 'serve', reason: 'head' });
  assert.deepEqual(decideOffload({ ...get, range: true, client: '10.213.112.9' }, state(hs)), { kind: 'serve', reason: 'range' });
  assert.deepEqual(decideOffload({ ...get, client: '192.168.1.9' }, state(hs)), { kind: 'serve', reason: 'not_provisioning' });
  assert.deepEqual(decideOffload({ ...get, client: 'fe80::1' }, state(hs)), { kind: 'serve', reason: 'not_provisioning' });
});

test('redirect leases end when they run out or when the client comes back', () => {
  const l = new RedirectLedger();
  l.add('a', '10.0.0.9', 1000);
  l.add('a', '10.0.0.8', 2000);
  assert.equal(l.active('a', 500), 2);
  assert.equal(l.active('a', 1500), 1);
  l.releaseClient('10.0.0.8');
  assert.equal(l.active('a', 1500), 0);
  l.add('seed x', '10.0.0.7', 5000);
  l.add('seed x', '10.0.0.6', 5000);
  l.release('seed x', '10.0.0.7');
  assert.deepEqual(l.leasesOf('10.0.0.6'), [{ holder: 'seed x', until: 5000 }]);
  assert.equal(l.active('seed x', 1500), 1);
  l.extend('seed x', '10.0.0.6', 9000);
  l.extend('seed x', '10.0.0.5', 9000); // no lease: none made
  assert.equal(l.active('seed x', 8000), 1);
  assert.deepEqual(l.leasesOf('10.0.0.5'), []);
});

test('provisioning networks from --address and --dhcp-range', () => {
  assert.deepEqual(provisioningNetworks('10.213.67.1', ['10.213.67.100-10.213.67.200', '10.213.68.10-10.213.68.50/23,router=10.213.68.1']), ['10.213.67.100/24', '10.213.68.10/23', '10.213.67.1/24']);
  assert.deepEqual(parseCidr('10.213.68.10/23'), { net: ((10 << 24) | (213 << 16) | (68 << 8)) >>> 0, bits: 23 });
});
