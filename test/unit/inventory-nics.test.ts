import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assembleNics } from '../../agent/inventory/nics.ts';
import { parseBonding } from '../../agent/inventory/parse-bonding.ts';
import { parseEthtoolDriver, parseEthtoolLink } from '../../agent/inventory/parse-ethtool.ts';
import { parseIpLink } from '../../agent/inventory/parse-ip-link.ts';
import { fixture } from './inventory-fixture.ts';

test('ethtool -i and ethtool of an Intel E810 port: driver, PCI address, 25 Gb/s, link up', () => {
  assert.deepEqual(parseEthtoolDriver(fixture('net/ethtool-i-ice-e810.txt')), {
    driver: 'ice', version: '6.15.3-3.gdc.el9.x86_64', firmware: '4.51 0x8001e501 23.0.8', busInfo: '0000:63:00.0',
  });
  assert.deepEqual(parseEthtoolLink(fixture('net/ethtool-ice-e810-25g.txt')), { speedMbps: 25000, duplex: 'full', linkDetected: true });
});

test('ethtool: "Speed: Unknown!" and "Link detected: no (Cable issue, …)"', () => {
  assert.deepEqual(parseEthtoolLink(fixture('net/ethtool-mlx5-cable-issue.txt')), { speedMbps: null, duplex: null, linkDetected: false });
  assert.deepEqual(parseEthtoolLink(fixture('net/ethtool-local-eth0-virtio.txt')), { speedMbps: null, duplex: null, linkDetected: true });
});

test('ethtool -i of a bridge prints "N/A" for bus-info and firmware', () => {
  assert.deepEqual(parseEthtoolDriver(fixture('net/ethtool-i-netns-br0.txt')), { driver: 'bridge', version: '2.3', firmware: null, busInfo: null });
});

test('/proc/net/bonding: 802.3ad members with their permanent MAC addresses', () => {
  const b = parseBonding(fixture('net/proc-net-bonding-facter-8023ad.txt'));
  assert.equal(b.mode, 'IEEE 802.3ad Dynamic link aggregation');
  assert.deepEqual(b.members, [
    { name: 'eth2', permanentMac: '08:00:27:29:dc:a5', miiUp: true, speedMbps: 1000 },
    { name: 'eth3', permanentMac: '08:00:27:d5:44:7e', miiUp: true, speedMbps: 1000 },
  ]);
});

test('this machine: virtio eth0 is a physical NIC on PCI 0000:00:03.0, ifb links are virtual, lo is left out', () => {
  const links = parseIpLink(fixture('net/ip-j-d-link-local.json'));
  assert.deepEqual(links.find((l) => l.name === 'eth0'), {
    name: 'eth0', linkType: 'ether', address: '02:fc:00:00:00:01', permAddress: null, mtu: 1400, operstate: 'UP',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], kind: null, slaveKind: null, master: null, parentBus: 'virtio', parentDev: 'virtio2',
  });
  const nics = assembleNics({
    links,
    drivers: new Map([['eth0', parseEthtoolDriver(fixture('net/ethtool-i-local-eth0-virtio.txt'))]]),
    settings: new Map([['eth0', parseEthtoolLink(fixture('net/ethtool-local-eth0-virtio.txt'))]]),
    bonds: new Map(),
  });
  assert.deepEqual(nics.map((n) => n.name), ['ifb0', 'ifb1', 'eth0']);
  assert.deepEqual(nics[2], {
    name: 'eth0', mac: '02:fc:00:00:00:01', currentMac: null, link: 'up', speedMbps: null, driver: 'virtio_net',
    pciAddress: '0000:00:03.0', mtu: 1400, kind: 'physical', master: null, members: [],
  });
  assert.equal(nics[0]?.kind, 'virtual');
  assert.equal(nics[0]?.link, 'down');
});

test('a bridge and its member (captured in a network namespace)', () => {
  const links = parseIpLink(fixture('net/ip-j-d-link-netns-bridge-veth.json'));
  const nics = assembleNics({
    links,
    drivers: new Map([['br0', parseEthtoolDriver(fixture('net/ethtool-i-netns-br0.txt'))], ['veth0', parseEthtoolDriver(fixture('net/ethtool-i-netns-veth0.txt'))]]),
    settings: new Map([['veth0', parseEthtoolLink(fixture('net/ethtool-netns-veth0.txt'))]]),
    bonds: new Map(),
  });
  const br = nics.find((n) => n.name === 'br0');
  const port = nics.find((n) => n.name === 'veth0');
  assert.equal(br?.kind, 'bridge');
  assert.deepEqual(br?.members, ['veth0']);
  assert.equal(br?.pciAddress, null);
  assert.equal(port?.kind, 'virtual');
  assert.equal(port?.master, 'br0');
  assert.equal(port?.speedMbps, 10000);
  assert.equal(port?.link, 'up');
});

test('bond members report their burned-in MAC, not the bond address they carry now', () => {
  // Links shaped like `ip -j -d link` of a bond (hand-written: this kernel has no bonding module);
  // the permanent addresses come from the /proc/net/bonding capture.
  const bondMac = '08:00:27:29:dc:a5';
  const links = parseIpLink(JSON.stringify([
    { ifname: 'eth2', link_type: 'ether', address: bondMac, mtu: 1500, operstate: 'UP', flags: ['UP', 'LOWER_UP', 'SLAVE'], master: 'bond0', linkinfo: { info_slave_kind: 'bond' }, parentbus: 'pci', parentdev: '0000:01:00.0' },
    { ifname: 'eth3', link_type: 'ether', address: bondMac, mtu: 1500, operstate: 'UP', flags: ['UP', 'LOWER_UP', 'SLAVE'], master: 'bond0', linkinfo: { info_slave_kind: 'bond' }, parentbus: 'pci', parentdev: '0000:01:00.1' },
    { ifname: 'bond0', link_type: 'ether', address: bondMac, mtu: 1500, operstate: 'UP', flags: ['UP', 'LOWER_UP', 'MASTER'], linkinfo: { info_kind: 'bond', info_data: { mode: '802.3ad' } } },
    { ifname: 'bond0.100', link_type: 'ether', address: bondMac, mtu: 1500, operstate: 'UP', flags: ['UP'], link: 'bond0', linkinfo: { info_kind: 'vlan', info_data: { id: 100 } } },
  ]));
  const nics = assembleNics({ links, drivers: new Map(), settings: new Map(), bonds: new Map([['bond0', parseBonding(fixture('net/proc-net-bonding-facter-8023ad.txt'))]]) });
  const by = new Map(nics.map((n) => [n.name, n]));
  assert.equal(by.get('eth2')?.mac, bondMac);
  assert.equal(by.get('eth2')?.currentMac, null);
  assert.equal(by.get('eth3')?.mac, '08:00:27:d5:44:7e');
  assert.equal(by.get('eth3')?.currentMac, bondMac);
  assert.equal(by.get('eth3')?.pciAddress, '0000:01:00.1');
  assert.equal(by.get('eth3')?.kind, 'physical');
  assert.equal(by.get('eth3')?.master, 'bond0');
  assert.equal(by.get('bond0')?.kind, 'bond');
  assert.deepEqual(by.get('bond0')?.members, ['eth2', 'eth3']);
  assert.equal(by.get('bond0.100')?.kind, 'vlan');
});

test('permanent address from the link itself (permaddr, or the bond member data of iproute2)', () => {
  const links = parseIpLink(JSON.stringify([
    { ifname: 'eno1', link_type: 'ether', address: 'aa:bb:cc:00:00:01', permaddr: '3C:FD:FE:00:00:01', operstate: 'UP', flags: [] },
    { ifname: 'eno2', link_type: 'ether', address: 'aa:bb:cc:00:00:01', operstate: 'DOWN', flags: [], linkinfo: { info_slave_kind: 'bond', info_slave_data: { perm_hwaddr: '3c:fd:fe:00:00:02' } } },
  ]));
  assert.deepEqual(links.map((l) => l.permAddress), ['3c:fd:fe:00:00:01', '3c:fd:fe:00:00:02']);
  const nics = assembleNics({ links, drivers: new Map(), settings: new Map(), bonds: new Map() });
  assert.deepEqual(nics.map((n) => [n.mac, n.currentMac, n.link]), [['3c:fd:fe:00:00:01', 'aa:bb:cc:00:00:01', 'up'], ['3c:fd:fe:00:00:02', 'aa:bb:cc:00:00:01', 'down']]);
});
