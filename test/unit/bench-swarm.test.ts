// bench:swarm's pure parts: the Kumar–Ross bound, which packages make the set and how it is shrunk.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kumarRoss, uniform } from '../../bench/swarm/bound.ts';
import { agentIp, neighbourBatch } from '../../bench/swarm/net.ts';
import { pickPackages } from '../../bench/swarm/set.ts';
import { demoProfile, downloadArgv, installPackages } from '../../bench/swarm/debs.ts';

test('Kumar–Ross: equal links are bound by the seed (one copy through u_s), a slow downloader by itself, a weak swarm by the aggregate', () => {
  const F = 100e6;
  const eq = kumarRoss(F, uniform(32, 100));
  assert.equal(eq.which, 'seed');
  assert.equal(eq.seconds, F / 12.5e6);
  assert.ok(Math.abs(eq.aggregate - (32 * F) / (33 * 12.5e6)) < 1e-9);
  const slow = kumarRoss(F, { seedUp: 100, up: [100, 100], down: [100, 10] });
  assert.equal(slow.which, 'slowest');
  assert.equal(slow.seconds, F / 10);
  const weak = kumarRoss(F, { seedUp: 100, up: [0, 0, 0], down: [1000, 1000, 1000] });
  assert.equal(weak.which, 'aggregate');
  assert.equal(weak.seconds, (3 * F) / 100);
  assert.throws(() => kumarRoss(F, { seedUp: 1, up: [], down: [] }), RangeError);
});

test('the package set shrinks to about the target with the same mix, and stays whole without one', () => {
  const debs = Array.from({ length: 200 }, (_, i) => ({ name: `p${String(i).padStart(3, '0')}.deb`, size: 1000 + ((i * 7919) % 50) * 1000 }));
  const total = debs.reduce((s, d) => s + d.size, 0);
  assert.equal(pickPackages(debs, undefined).length, 200);
  assert.equal(pickPackages(debs, total * 2).length, 200);
  assert.equal(pickPackages(debs, 0).length, 0);
  const half = pickPackages(debs, total / 2);
  const bytes = half.reduce((s, d) => s + d.size, 0);
  assert.ok(Math.abs(bytes - total / 2) < 0.05 * total, `${bytes} of ${total}`);
  assert.ok(half.length > 80 && half.length < 120, `${half.length} packages`);
});

test('agent addresses stay inside 10.213.128.0/17 and are distinct', () => {
  const ips = Array.from({ length: 600 }, (_, i) => agentIp(i + 1));
  assert.equal(new Set(ips).size, 600);
  for (const ip of ips) {
    const [a, b, c, d] = ip.split('.').map(Number);
    assert.ok(a === 10 && b === 213 && c! >= 128 && c! <= 255 && d! >= 0 && d! <= 255, ip);
  }
  assert.equal(agentIp(1), '10.213.129.1');
});

test('every namespace gets every other host as a permanent neighbour, never itself', () => {
  const hosts = [1, 2, 3].map((i) => ({ ip: agentIp(i), mac: `02:00:00:00:00:0${i}` }));
  const lines = neighbourBatch(hosts, agentIp(2)).trimEnd().split('\n');
  assert.deepEqual(lines, [
    `neigh replace ${agentIp(1)} lladdr 02:00:00:00:00:01 dev eth0 nud permanent`,
    `neigh replace ${agentIp(3)} lladdr 02:00:00:00:00:03 dev eth0 nud permanent`,
  ]);
  assert.equal(neighbourBatch(hosts.slice(0, 1), agentIp(1)), '');
});

test('without cached packages the bench downloads what the demo installs: minbase + kernel + both firmwares\' boot packages + the profile\'s own', () => {
  const { suite, arch, include } = installPackages(demoProfile());
  assert.equal(suite, 'bookworm');
  assert.equal(arch, 'amd64');
  for (const p of ['linux-image-amd64', 'grub-pc-bin', 'grub-efi-amd64-bin', 'shim-signed', 'openssh-server', 'dosfstools']) assert.ok(include.includes(p), p);
  assert.ok(!include.includes('mdadm') && !include.includes('lvm2'), 'nothing the profile does not use');
  const argv = downloadArgv({ suite, arch, include: ['a', 'b'], cacheDir: '/c', scratch: '/s', mirror: 'http://m/debian' });
  assert.deepEqual(argv, ['debootstrap', '--download-only', '--variant=minbase', '--arch=amd64', '--components=main', '--include=a,b', '--cache-dir=/c', 'bookworm', '/s', 'http://m/debian']);
});
