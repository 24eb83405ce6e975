// The DHCP server in full mode against real clients (busybox udhcpc, ISC dhclient) in network
// namespaces this test creates, with leases in a real etcd. The seed's namespace has two
// interfaces and its default route on the other one: DHCP must be heard and answered on the
// provisioning interface only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, inNetns, waitFor } from '../helpers/netns.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { EtcdStore } from '../../store/etcd.ts';
import { Keys } from '../../core/keys.ts';
import { silentLogger } from '../../core/log.ts';
import { leaseSchema } from '../../core/model/lease.ts';
import { DhcpServer } from '../../seed/dhcp/server.ts';
import { dhcpConfigSchema } from '../../seed/dhcp/config.ts';
import { openDeviceFd, wrapFd } from '../../seed/dhcp/udp-device.ts';

const lab = new Lab('dhcp');
const keys = new Keys('/lpmos/', 'dhcptest');
let etcd: TestEtcd;
let store: EtcdStore;
let server: DhcpServer | undefined;
let seedNs = '';
let cliNs = '';
let wanNs = '';
const tmp = mkdtempSync(join(tmpdir(), `lpm-dhcp-${process.pid}-`));

const config = dhcpConfigSchema.parse({
  dhcp: 'full', interface: 'p0', address: '10.213.0.1', dhcpRange: ['10.213.0.100-10.213.0.150'],
  dhcpRouter: '10.213.0.254', dhcpDns: ['10.213.0.53'], dhcpDomain: 'lab.test', dhcpLeaseTime: 600, httpPort: 8080,
});

async function startServer(): Promise<DhcpServer> {
  const s = new DhcpServer(config, {
    store, keys, logger: silentLogger(),
    openSocket: (port) => wrapFd(inNetns(seedNs, () => openDeviceFd({ iface: 'p0', port }))),
  });
  await s.start();
  return s;
}

/** A udhcpc event script that logs every event with the values the client got, and configures the address. */
function udhcpcScript(out: string): string {
  const path = join(tmp, `udhcpc-${out.replace(/\W/g, '')}.sh`);
  writeFileSync(path, `#!/bin/sh
echo "$1 ip=$ip mask=$mask router=$router dns=$dns domain=$domain siaddr=$siaddr boot_file=$boot_file serverid=$serverid lease=$lease" >> ${out}
case "$1" in
  bound|renew) ip addr flush dev $interface; ip addr add $ip/$mask dev $interface ;;
  deconfig) ip addr flush dev $interface ;;
esac
`, { mode: 0o755 });
  return path;
}

function events(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
}

async function storedLease(mac: string) {
  const kv = await store.get(keys.lease(mac));
  return kv ? leaseSchema.parse(JSON.parse(kv.value)) : undefined;
}

before(async () => {
  etcd = await TestEtcd.start();
  store = new EtcdStore({ endpoints: etcd.endpoints });
  seedNs = lab.netns('seed');
  cliNs = lab.netns('cli');
  wanNs = lab.netns('wan');
  const lan = lab.netns('lan');
  lab.veth({ ns: seedNs, name: 'p0', address: '10.213.0.1/24' }, { ns: lan, name: 'ls' });
  lab.veth({ ns: cliNs, name: 'c0' }, { ns: lan, name: 'l0' });
  lab.veth({ ns: cliNs, name: 'c1' }, { ns: lan, name: 'l1' });
  lab.veth({ ns: cliNs, name: 'c2' }, { ns: lan, name: 'l2' });
  lab.bridge(lan, 'br0', ['ls', 'l0', 'l1', 'l2']);
  // The seed's other interface carries its default route: broadcasts not bound to p0 would leave here.
  lab.veth({ ns: seedNs, name: 'w0', address: '10.213.15.1/24' }, { ns: wanNs, name: 'w1', address: '10.213.15.254/24' });
  lab.exec(seedNs, ['ip', 'route', 'add', 'default', 'via', '10.213.15.254']);
  lab.exec(cliNs, ['ip', 'link', 'set', 'c0', 'address', '02:13:00:00:00:01']);
  lab.exec(cliNs, ['ip', 'link', 'set', 'c1', 'address', '02:13:00:00:00:02']);
  lab.exec(cliNs, ['ip', 'link', 'set', 'c2', 'address', '02:13:00:00:00:03']);
  server = await startServer();
});

after(async () => {
  await server?.stop();
  await lab.cleanup();
  await store?.close();
  await etcd?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const udhcpcOut = join(tmp, 'udhcpc.events');
const udhcpcPid = join(tmp, 'udhcpc.pid');
let udhcpc: ReturnType<Lab['spawn']> | undefined;

test('udhcpc (PXE vendor class) gets a lease with router, DNS, domain, next-server and boot file', async () => {
  // Vendor class of a BIOS PXE ROM (no option 93): the server must pick the BIOS loader by the class.
  udhcpc = lab.spawn(cliNs, ['udhcpc', '-f', '-i', 'c0', '-p', udhcpcPid, '-s', udhcpcScript(udhcpcOut), '-t', '5', '-T', '1', '-x', 'hostname:ud1', '-V', 'PXEClient:Arch:00000:UNDI:002001']);
  const bound = await waitFor('udhcpc bound', () => events(udhcpcOut).find((l) => l.startsWith('bound')), 15_000);
  assert.match(bound, /ip=10\.213\.0\.100 /);
  assert.match(bound, /mask=24 /);
  assert.match(bound, /router=10\.213\.0\.254 /);
  assert.match(bound, /dns=10\.213\.0\.53 /);
  assert.match(bound, /domain=lab\.test /);
  assert.match(bound, /serverid=10\.213\.0\.1 /);
  assert.match(bound, /lease=600/);
  assert.match(bound, /siaddr=10\.213\.0\.1 /);
  assert.match(bound, /boot_file=undionly\.kpxe /);
  const lease = await storedLease('02:13:00:00:00:01');
  assert.equal(lease?.ip, '10.213.0.100');
  assert.equal(lease?.state, 'bound');
  assert.equal(lease?.hostname, 'ud1');
});

test('udhcpc renews (REQUEST in RENEWING state, unicast from its address) and the lease is extended', async () => {
  const before = await storedLease('02:13:00:00:00:01');
  const acks = server!.counters.acks;
  await new Promise((r) => setTimeout(r, 1100)); // expiresAt has millisecond resolution: let it move
  process.kill(Number(readFileSync(udhcpcPid, 'utf8').trim()), 'SIGUSR1');
  await waitFor('renew event', () => events(udhcpcOut).find((l) => l.startsWith('renew')), 10_000);
  assert.ok(server!.counters.acks > acks);
  const after = await storedLease('02:13:00:00:00:01');
  assert.equal(after?.ip, before?.ip);
  assert.ok(Date.parse(after!.expiresAt) > Date.parse(before!.expiresAt), 'lease extended');
});

test('ISC dhclient gets a lease with router, DNS, next-server and boot file (PXE vendor class), then RELEASE frees it', async () => {
  const leaseFile = join(tmp, 'dhclient.leases');
  const conf = join(tmp, 'dhclient.conf');
  writeFileSync(conf, 'send vendor-class-identifier "PXEClient:Arch:00000:UNDI:002001";\nsend dhcp-client-identifier = hardware;\nrequest subnet-mask, routers, domain-name-servers, domain-name, tftp-server-name, bootfile-name;\n');
  const script = join(tmp, 'dhclient.sh');
  writeFileSync(script, '#!/bin/sh\n[ -n "$new_ip_address" ] && ip addr add $new_ip_address/24 dev $interface 2>/dev/null; exit 0\n', { mode: 0o755 });
  const args = ['-4', '-1', '-cf', conf, '-sf', script, '-lf', leaseFile, '-pf', join(tmp, 'dhclient.pid')];
  // -d: stay in the foreground (a daemonised dhclient would hold the test's pipes open).
  const dh = lab.spawn(cliNs, ['dhclient', '-d', ...args, 'c1']);
  const text: string = await waitFor('dhclient lease', () => (existsSync(leaseFile) && /fixed-address/.test(readFileSync(leaseFile, 'utf8')) ? readFileSync(leaseFile, 'utf8') : undefined), 20_000)
    .catch((e: unknown) => { throw new Error(`${String(e)}\n${dh.output()}`); });
  assert.match(text, /fixed-address 10\.213\.0\.101;/);
  assert.match(text, /option routers 10\.213\.0\.254;/);
  assert.match(text, /option domain-name-servers 10\.213\.0\.53;/);
  assert.match(text, /filename "undionly\.kpxe";/);
  assert.match(text, /option tftp-server-name "10\.213\.0\.1";/);
  // dhclient keeps no siaddr in its lease file: the next server shows as option 66, which it asked for.
  assert.match(text, /option bootfile-name "undionly\.kpxe";/);
  assert.match(text, /option dhcp-server-identifier 10\.213\.0\.1;/);
  // A PXE client unknown to the registry is enrolled as discovered.
  assert.equal((await store.get(keys.macIndex('02:13:00:00:00:02')))?.value, 'm-021300000002');
  const releases = server!.counters.releases;
  const rel = await lab.run(cliNs, ['dhclient', ...args, '-r', 'c1'], 20_000);
  assert.equal(rel.code, 0, rel.stderr);
  await dh.stop();
  await waitFor('release counted', () => (server!.counters.releases > releases ? true : undefined), 15_000);
  const lease = await storedLease('02:13:00:00:00:02');
  assert.equal(lease?.state, 'released');
  assert.ok(Date.parse(lease!.expiresAt) <= Date.now());
});

test('a client on the seed\'s other interface is never heard or answered', async () => {
  const received = server!.counters.received;
  const r = await lab.run(wanNs, ['udhcpc', '-f', '-q', '-n', '-i', 'w1', '-s', '/bin/true', '-t', '2', '-T', '1']);
  assert.notEqual(r.code, 0, 'udhcpc on the other interface must not get a lease');
  assert.match(r.stderr, /broadcasting discover/, 'the client did send');
  assert.equal(server!.counters.received, received, 'not one packet from the other interface reached the server');
});

test('a seed restart keeps every lease: renewals are acknowledged, new clients get other addresses', async () => {
  const held = (await storedLease('02:13:00:00:00:01'))!.ip;
  await server!.stop();
  server = await startServer();
  assert.ok(server.leases.table.leases.size >= 2, 'leases loaded from etcd');
  // The running udhcpc renews with the new process.
  const renewsBefore = events(udhcpcOut).filter((l) => l.startsWith('renew')).length;
  process.kill(Number(readFileSync(udhcpcPid, 'utf8').trim()), 'SIGUSR1');
  await waitFor('renew after restart', () => (events(udhcpcOut).filter((l) => l.startsWith('renew')).length > renewsBefore ? true : undefined), 10_000);
  assert.equal((await storedLease('02:13:00:00:00:01'))!.ip, held);
  // A new client gets neither the bound address nor the released one of the dhclient MAC.
  const out = join(tmp, 'udhcpc3.events');
  const r = await lab.run(cliNs, ['udhcpc', '-f', '-q', '-n', '-i', 'c2', '-s', udhcpcScript(out), '-t', '5', '-T', '1']);
  assert.equal(r.code, 0, `udhcpc failed: ${r.stderr}; server counters ${JSON.stringify(server.counters)}`);
  const bound = events(out).find((l) => l.startsWith('bound'))!;
  assert.match(bound, /ip=10\.213\.0\.102 /);
  assert.match(bound, /boot_file= /, 'a client that is not PXE gets no boot file');
  await udhcpc?.stop();
});
