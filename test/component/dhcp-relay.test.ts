// Relayed requests (RFC 2131 §4.1, RFC 3046): a relay agent in its own namespace, with giaddr on a
// second subnet, forwards a replayed PXE client's DISCOVER/REQUEST with option 82. The reply must
// come back unicast to giaddr:67, from the relay's subnet, with option 82 echoed, and the machine's
// location (circuit, remote id) must be in etcd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, inNetns, waitFor } from '../helpers/netns.ts';
import { ScriptedClient, variant } from '../fixtures/dhcp/client.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { EtcdStore } from '../../store/etcd.ts';
import { Keys } from '../../core/keys.ts';
import { silentLogger } from '../../core/log.ts';
import { machineSchema } from '../../core/model/machine.ts';
import { leaseSchema } from '../../core/model/lease.ts';
import { DhcpServer } from '../../seed/dhcp/server.ts';
import { dhcpConfigSchema } from '../../seed/dhcp/config.ts';
import { openDeviceFd, wrapFd } from '../../seed/dhcp/udp-device.ts';
import { decode, getOption } from '../../seed/dhcp/codec.ts';
import { Opt, ipBytes, readIp } from '../../seed/dhcp/options.ts';
import { loadCapture } from '../fixtures/dhcp/pcap.ts';

const lab = new Lab('dhcp');
const keys = new Keys('/lpmos/', 'relaytest');
let etcd: TestEtcd;
let store: EtcdStore;
let server: DhcpServer | undefined;
let relay: ScriptedClient | undefined;

const OPTION_82 = Uint8Array.from([1, 8, ...Buffer.from('Eth1/0/7'), 2, 10, ...Buffer.from('rack12-sw1')]);

before(async () => {
  etcd = await TestEtcd.start();
  store = new EtcdStore({ endpoints: etcd.endpoints });
  const seedNs = lab.netns('rseed');
  const relayNs = lab.netns('relay');
  lab.veth({ ns: seedNs, name: 'p0', address: '10.213.0.1/24' }, { ns: relayNs, name: 'r0', address: '10.213.0.2/24' });
  // The relay's client-side subnet, reached through the relay.
  lab.veth({ ns: relayNs, name: 'r1', address: '10.213.4.1/24' }, { ns: lab.netns('rcli'), name: 'x0' });
  lab.exec(seedNs, ['ip', 'route', 'add', '10.213.4.0/24', 'via', '10.213.0.2']);
  const config = dhcpConfigSchema.parse({
    dhcp: 'full', interface: 'p0', address: '10.213.0.1', httpPort: 8080,
    dhcpRange: ['10.213.0.100-10.213.0.150', '10.213.4.100-10.213.4.150,router=10.213.4.1,dns=10.213.0.53'],
  });
  server = new DhcpServer(config, {
    store, keys, logger: silentLogger(),
    openSocket: (port) => wrapFd(inNetns(seedNs, () => openDeviceFd({ iface: 'p0', port }))),
  });
  await server.start();
  // Relays send from and listen on giaddr:67; bound to that address, the socket only sees replies sent to it.
  relay = await ScriptedClient.open(relayNs, { port: 67, address: '10.213.4.1' });
});

after(async () => {
  relay?.close();
  await server?.stop();
  await lab.cleanup();
  await store?.close();
  await etcd?.stop();
});

test('relayed DISCOVER/REQUEST: unicast to giaddr:67, address from the relay subnet, option 82 echoed, location in etcd', async () => {
  const [discover, , request] = loadCapture('ovmf-pxe').map((d) => decode(d.payload));
  const xid = 0x0e1a0001;
  const relayed = { giaddr: '10.213.4.1', hops: 1 };
  await relay!.send(variant(discover!, { xid, ...relayed }, [{ code: Opt.RelayAgentInfo, data: OPTION_82 }]), '10.213.0.1');
  const offer = await relay!.waitFor(xid);
  assert.equal(offer.port, 67, 'reply goes to the relay port');
  assert.equal(offer.from, '10.213.0.1');
  assert.match(offer.msg.yiaddr, /^10\.213\.4\.1\d\d$/);
  assert.equal(offer.msg.giaddr, '10.213.4.1');
  assert.equal(readIp(getOption(offer.msg, Opt.Router)), '10.213.4.1');
  assert.equal(offer.msg.file, 'ipxe.efi');
  assert.deepEqual(getOption(offer.msg, Opt.RelayAgentInfo), OPTION_82);

  const ip = offer.msg.yiaddr;
  await relay!.send(variant(request!, { xid: xid + 1, ...relayed }, [
    { code: Opt.RequestedIp, data: ipBytes(ip) }, { code: Opt.ServerId, data: ipBytes('10.213.0.1') }, { code: Opt.RelayAgentInfo, data: OPTION_82 },
  ]), '10.213.0.1');
  const ack = await relay!.waitFor(xid + 1);
  assert.equal(getOption(ack.msg, Opt.MessageType)?.[0], 5);
  assert.equal(ack.msg.yiaddr, ip);
  assert.deepEqual(getOption(ack.msg, Opt.RelayAgentInfo), OPTION_82);

  const lease = leaseSchema.parse(JSON.parse((await store.get(keys.lease('52:54:00:cc:00:01')))!.value));
  assert.equal(lease.ip, ip);
  assert.equal(lease.subnet, '10.213.4.0/24');
  const id = (await store.get(keys.macIndex('52:54:00:cc:00:01')))?.value;
  assert.ok(id, 'the unknown PXE client was enrolled');
  const machine = await waitFor('location in etcd', async () => {
    const m = machineSchema.parse(JSON.parse((await store.get(keys.machine(id)))!.value));
    return m.location ? m : undefined;
  }, 15_000);
  assert.equal(machine.location?.relay, '10.213.4.1');
  assert.equal(machine.location?.circuitId, 'Eth1/0/7');
  assert.equal(machine.location?.remoteId, 'rack12-sw1');
});

test('a relayed REQUEST for an address of another subnet gets a NAK through the relay, broadcast bit set', async () => {
  const [, , request] = loadCapture('ovmf-pxe').map((d) => decode(d.payload));
  const xid = 0x0e1a0100;
  await relay!.send(variant(request!, { xid, giaddr: '10.213.4.1', hops: 1, flags: 0 }, [
    { code: Opt.RequestedIp, data: ipBytes('10.213.0.120') }, { code: Opt.ServerId, data: ipBytes('10.213.0.1') },
  ]), '10.213.0.1');
  const nak = await relay!.waitFor(xid);
  assert.equal(getOption(nak.msg, Opt.MessageType)?.[0], 6);
  assert.equal(nak.msg.flags & 0x8000, 0x8000);
  assert.equal(nak.msg.yiaddr, '0.0.0.0');
});
