// Real PXE firmware against our server (QEMU, TCG): SeaBIOS with QEMU's iPXE ROM and OVMF's own
// UEFI PXE client (NIC ROM disabled) boot at the same time on a bridge in a namespace this test
// creates. Both must complete DISCOVER/OFFER/REQUEST/ACK, get the right boot file for what they are
// (iPXE → the HTTP boot script, UEFI PXE → ipxe.efi over TFTP), and be enrolled as discovered.
// Then proxyDHCP: iPXE beside dnsmasq takes its address from dnsmasq and its boot script URL from
// our proxy, and fetches it (busybox httpd in the namespace stands in for the seed's HTTP server).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, inNetns, waitFor } from '../helpers/netns.ts';
import { MemoryStore } from '../../store/memory.ts';
import { Keys } from '../../core/keys.ts';
import { silentLogger } from '../../core/log.ts';
import { leaseSchema } from '../../core/model/lease.ts';
import { DhcpServer } from '../../seed/dhcp/server.ts';
import { dhcpConfigSchema } from '../../seed/dhcp/config.ts';
import { openDeviceFd, wrapFd } from '../../seed/dhcp/udp-device.ts';
import { getOption, macOf, type DhcpMessage } from '../../seed/dhcp/codec.ts';
import { MsgType, Opt } from '../../seed/dhcp/options.ts';

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS.fd';
const lab = new Lab('dhcp');
const keys = new Keys('/lpmos/', 'fw');
const store = new MemoryStore();
const tmp = mkdtempSync(join(tmpdir(), `lpm-dhcp-${process.pid}-`));
let server: DhcpServer | undefined;
let ns = '';
const replies: DhcpMessage[] = [];

before(async () => {
  lab.defer(() => rmSync(tmp, { recursive: true, force: true }));
  ns = lab.netns('fw');
  lab.exec(ns, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  lab.exec(ns, ['ip', 'addr', 'add', '10.213.0.1/24', 'dev', 'br0']);
  lab.exec(ns, ['ip', 'link', 'set', 'br0', 'up']);
  for (const tap of ['tap0', 'tap1']) {
    lab.exec(ns, ['ip', 'tuntap', 'add', tap, 'mode', 'tap']);
    lab.exec(ns, ['ip', 'link', 'set', tap, 'master', 'br0']);
    lab.exec(ns, ['ip', 'link', 'set', tap, 'up']);
  }
  const config = dhcpConfigSchema.parse({ dhcp: 'full', interface: 'br0', address: '10.213.0.1', dhcpRange: ['10.213.0.100-10.213.0.150'], dhcpRouter: '10.213.0.1', httpPort: 8080 });
  server = new DhcpServer(config, {
    store, keys, logger: silentLogger(),
    openSocket: (port) => wrapFd(inNetns(ns, () => openDeviceFd({ iface: 'br0', port }))),
    onReply: (reply) => { replies.push(reply); },
  });
  await server.start();
});

after(async () => {
  await server?.stop();
  await lab.cleanup();
});

test('iPXE (BIOS) and OVMF UEFI PXE complete DORA with the right boot file and are enrolled', { timeout: 240_000 }, async (t) => {
  if (!existsSync('/usr/bin/qemu-system-x86_64') || !existsSync(OVMF_CODE)) {
    assert.fail('qemu-system-x86 and ovmf are needed (scripts/apt-packages.txt)');
  }
  const vars = join(tmp, 'vars.fd');
  copyFileSync(OVMF_VARS, vars);
  const common = ['qemu-system-x86_64', '-accel', 'tcg', '-m', '256', '-display', 'none', '-serial', 'none', '-monitor', 'none', '-boot', 'n'];
  const bios = lab.spawn(ns, [...common, '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no', '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:f1:00:01']);
  const uefi = lab.spawn(ns, [...common, '-netdev', 'tap,id=n0,ifname=tap1,script=no,downscript=no', '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:f1:00:02,romfile=',
    '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`]);
  const bound = async (mac: string) => {
    const kv = await store.get(keys.lease(mac));
    const lease = kv ? leaseSchema.parse(JSON.parse(kv.value)) : undefined;
    return lease?.state === 'bound' ? lease : undefined;
  };
  const why = () => `counters ${JSON.stringify(server!.counters)}\nBIOS VM: ${bios.output()}\nUEFI VM: ${uefi.output()}`;
  const [l1, l2] = await Promise.all([
    waitFor('iPXE lease', () => bound('52:54:00:f1:00:01'), 180_000, 500).catch((e: unknown) => assert.fail(`${String(e)}\n${why()}`)),
    waitFor('OVMF lease', () => bound('52:54:00:f1:00:02'), 180_000, 500).catch((e: unknown) => assert.fail(`${String(e)}\n${why()}`)),
  ]);
  t.diagnostic(`iPXE got ${l1.ip}, OVMF got ${l2.ip}; counters ${JSON.stringify(server!.counters)}`);
  assert.notEqual(l1.ip, l2.ip);
  // Both firmwares are PXE clients unknown to the registry: enrolled, with their architecture.
  for (const [mac, arch] of [['52:54:00:f1:00:01', '0'], ['52:54:00:f1:00:02', '7']] as const) {
    const id = (await store.get(keys.macIndex(mac)))?.value;
    assert.ok(id, `${mac} enrolled`);
    assert.match((await store.get(keys.machine(id)))!.value, new RegExp(`"lpmos/arch":"${arch}"`));
  }
  assert.equal(server!.counters.naks, 0, 'firmware never needed a NAK');
  const ackFor = (mac: string) => replies.find((r) => macOf(r) === mac && getOption(r, Opt.MessageType)?.[0] === MsgType.Ack);
  assert.equal(ackFor('52:54:00:f1:00:01')?.file, 'http://10.213.0.1:8080/boot.ipxe', 'iPXE gets its boot script, not another iPXE');
  const uefiAck = ackFor('52:54:00:f1:00:02');
  assert.equal(uefiAck?.file, 'ipxe.efi');
  assert.equal(uefiAck?.siaddr, '10.213.0.1');
  await Promise.all([bios.stop('SIGKILL'), uefi.stop('SIGKILL')]);
});

test('iPXE beside dnsmasq takes the address from dnsmasq and its boot script URL from our proxy, and fetches it', { timeout: 240_000 }, async () => {
  const pns = lab.netns('fwp');
  lab.exec(pns, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  lab.exec(pns, ['ip', 'addr', 'add', '10.213.0.1/24', 'dev', 'br0']);
  lab.exec(pns, ['ip', 'addr', 'add', '10.213.0.2/24', 'dev', 'br0']);
  lab.exec(pns, ['ip', 'link', 'set', 'br0', 'up']);
  lab.exec(pns, ['ip', 'tuntap', 'add', 'tap0', 'mode', 'tap']);
  lab.exec(pns, ['ip', 'link', 'set', 'tap0', 'master', 'br0']);
  lab.exec(pns, ['ip', 'link', 'set', 'tap0', 'up']);
  lab.spawn(pns, ['dnsmasq', '-k', '--conf-file=/dev/null', '--port=0', '--interface=br0', '--bind-interfaces',
    '--dhcp-range=10.213.0.100,10.213.0.150,255.255.255.0,600', '--no-ping', `--dhcp-leasefile=${join(tmp, 'p.leases')}`, `--pid-file=${join(tmp, 'p.pid')}`]);
  const www = join(tmp, 'www');
  mkdirSync(www);
  writeFileSync(join(www, 'boot.ipxe'), '#!ipxe\necho lpmos proxy test\nsleep 120\n');
  const httpd = lab.spawn(pns, ['busybox', 'httpd', '-f', '-vv', '-p', '10.213.0.2:8080', '-h', www]);
  const proxy = new DhcpServer(dhcpConfigSchema.parse({ dhcp: 'proxy', interface: 'br0', address: '10.213.0.2', httpPort: 8080 }), {
    store: new MemoryStore(), keys, logger: silentLogger(),
    openSocket: (port, address) => wrapFd(inNetns(pns, () => openDeviceFd({ iface: 'br0', port, ...(address ? { address } : {}) }))),
  });
  await proxy.start();
  try {
    const vm = lab.spawn(pns, ['qemu-system-x86_64', '-accel', 'tcg', '-m', '256', '-display', 'none', '-serial', 'none', '-monitor', 'none', '-boot', 'n',
      '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no', '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:f1:00:03']);
    // iPXE takes our offer as ProxyDHCP (vendor class PXEClient, next-server and file present) and
    // fetches the script from the address dnsmasq gave it.
    const line = await waitFor('iPXE fetching boot.ipxe', () => /^(10\.213\.0\.1\d\d):\d+: url:\/boot\.ipxe$/m.exec(httpd.output())?.[1], 180_000, 500)
      .catch((e: unknown) => assert.fail(`${String(e)}\ncounters ${JSON.stringify(proxy.counters)}\nhttpd: ${httpd.output()}\n${vm.output()}`));
    assert.match(line, /^10\.213\.0\.1(0\d|1\d|2\d|3\d|4\d|50)$/, 'address from the dnsmasq range');
    assert.ok(proxy.counters.offers >= 1, 'our proxy answered');
    assert.equal(proxy.counters.acks + proxy.counters.naks, 0, 'the address REQUEST was left to dnsmasq');
    await vm.stop('SIGKILL');
  } finally {
    await proxy.stop();
  }
});
