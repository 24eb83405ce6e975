// proxyDHCP beside a real dnsmasq in the same namespace: dnsmasq hands out the address (no boot
// file), our proxy only the boot information — on port 67 for the DISCOVER and on 4011 for the
// PXE boot-server REQUEST. The PXE client is the captured OVMF UEFI PXE firmware, replayed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, inNetns } from '../helpers/netns.ts';
import { ScriptedClient, variant } from '../fixtures/dhcp/client.ts';
import { MemoryStore } from '../../store/memory.ts';
import { Keys } from '../../core/keys.ts';
import { silentLogger } from '../../core/log.ts';
import { DhcpServer } from '../../seed/dhcp/server.ts';
import { dhcpConfigSchema } from '../../seed/dhcp/config.ts';
import { openDeviceFd, wrapFd } from '../../seed/dhcp/udp-device.ts';
import { decode, getOption } from '../../seed/dhcp/codec.ts';
import { Opt, ipBytes, readText } from '../../seed/dhcp/options.ts';
import { loadCapture } from '../fixtures/dhcp/pcap.ts';

const lab = new Lab('dhcp');
const tmp = mkdtempSync(join(tmpdir(), `lpm-dhcp-${process.pid}-`));
let server: DhcpServer | undefined;
let client: ScriptedClient | undefined;
let seedNs = '';
let cliNs = '';

before(async () => {
  seedNs = lab.netns('pseed');
  cliNs = lab.netns('pcli');
  lab.veth({ ns: seedNs, name: 'p0', address: '10.213.0.1/24' }, { ns: cliNs, name: 'c0' });
  // dnsmasq answers as 10.213.0.1 (the primary address); the seed's proxy is 10.213.0.2.
  lab.exec(seedNs, ['ip', 'addr', 'add', '10.213.0.2/24', 'dev', 'p0']);
  lab.defer(() => rmSync(tmp, { recursive: true, force: true }));
  lab.spawn(seedNs, ['dnsmasq', '-k', '--conf-file=/dev/null', '--port=0', '--interface=p0', '--bind-interfaces',
    '--dhcp-range=10.213.0.100,10.213.0.150,255.255.255.0,600', '--dhcp-option=3,10.213.0.254', '--no-ping',
    `--dhcp-leasefile=${join(tmp, 'leases')}`, `--pid-file=${join(tmp, 'dnsmasq.pid')}`]);
  // Wait until dnsmasq listens on :67: on a loaded runner it can still be starting when the test's
  // single DISCOVER goes out (a real client would retransmit; the replayed capture does not).
  const deadline = Date.now() + 20_000;
  while (!lab.tryExec(seedNs, ['ss', '-Hlunp', 'sport = :67']).stdout.includes('dnsmasq')) {
    if (Date.now() > deadline) throw new Error('dnsmasq did not start listening on port 67 within 20 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const config = dhcpConfigSchema.parse({ dhcp: 'proxy', interface: 'p0', address: '10.213.0.2', httpPort: 8080 });
  server = new DhcpServer(config, {
    store: new MemoryStore(), keys: new Keys('/lpmos/', 'proxytest'), logger: silentLogger(),
    openSocket: (port, address) => wrapFd(inNetns(seedNs, () => openDeviceFd({ iface: 'p0', port, ...(address ? { address } : {}) }))),
  });
  await server.start();
  client = await ScriptedClient.open(cliNs, { port: 68, iface: 'c0' });
});

after(async () => {
  client?.close();
  await server?.stop();
  await lab.cleanup();
});

test('OVMF PXE DISCOVER: address from dnsmasq, boot file from the proxy; REQUEST to 4011 gets the boot file', async () => {
  const [discover, , request] = loadCapture('ovmf-pxe').map((d) => decode(d.payload));
  const xid = 0x5eed0001;
  await client!.send(variant(discover!, { xid }), '255.255.255.255');
  const fromDnsmasq = await client!.waitFor(xid, (r) => r.msg.yiaddr !== '0.0.0.0');
  const fromProxy = await client!.waitFor(xid, (r) => r.msg.yiaddr === '0.0.0.0');
  // dnsmasq: an address, no boot file.
  assert.match(fromDnsmasq.msg.yiaddr, /^10\.213\.0\.1\d\d$/);
  assert.equal(fromDnsmasq.msg.file, '');
  // The proxy: no address, PXEClient, the UEFI x64 loader from the seed.
  assert.equal(getOption(fromProxy.msg, Opt.MessageType)?.[0], 2);
  assert.equal(readText(getOption(fromProxy.msg, Opt.VendorClass)), 'PXEClient');
  assert.equal(fromProxy.msg.file, 'ipxe.efi');
  assert.equal(fromProxy.msg.siaddr, '10.213.0.2');
  assert.equal(getOption(fromProxy.msg, Opt.LeaseTime), undefined);
  // Broadcast replies leave with the interface's primary source address; the server id names the proxy.
  assert.deepEqual([...getOption(fromProxy.msg, Opt.ServerId)!], [10, 213, 0, 2]);

  // The address comes from dnsmasq (REQUEST with its server id); the proxy stays out of it.
  const ip = fromDnsmasq.msg.yiaddr;
  const acksBefore = server!.counters.acks;
  await client!.send(variant(request!, { xid: xid + 1 }, [{ code: Opt.RequestedIp, data: ipBytes(ip) }, { code: Opt.ServerId, data: ipBytes('10.213.0.1') }]), '255.255.255.255');
  const ack = await client!.waitFor(xid + 1, (r) => getOption(r.msg, Opt.MessageType)?.[0] === 5);
  assert.equal(ack.msg.yiaddr, ip);
  assert.equal(server!.counters.acks, acksBefore, 'the proxy does not answer a REQUEST for dnsmasq');

  // PXE boot server discovery: unicast REQUEST from the new address to the proxy's port 4011.
  lab.exec(cliNs, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'c0']);
  await client!.send(variant(request!, { xid: xid + 2, ciaddr: ip }, [], [Opt.RequestedIp, Opt.ServerId]), '10.213.0.2', 4011);
  const boot = await client!.waitFor(xid + 2);
  assert.equal(getOption(boot.msg, Opt.MessageType)?.[0], 5);
  assert.equal(boot.from, '10.213.0.2');
  assert.equal(boot.port, 4011);
  assert.equal(boot.msg.file, 'ipxe.efi');
  assert.equal(boot.msg.yiaddr, '0.0.0.0');
  assert.equal(readText(getOption(boot.msg, Opt.VendorClass)), 'PXEClient');
});

test('proxy mode ignores ordinary clients (udhcpc still gets its address from dnsmasq)', async () => {
  const dropped = server!.counters.dropped;
  const r = await lab.run(cliNs, ['udhcpc', '-f', '-q', '-n', '-i', 'c0', '-s', '/bin/true', '-t', '3', '-T', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /obtained from 10\.213\.0\.1/);
  assert.ok(server!.counters.dropped > dropped);
  assert.equal(server!.counters.offers, 1, 'only the PXE client got a proxy offer');
});
