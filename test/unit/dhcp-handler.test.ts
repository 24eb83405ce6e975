// The server's per-message decisions without sockets: real lease repository and machine index on
// the in-memory store, requests built from the captured fixtures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { MemoryStore } from '../../store/memory.ts';
import { Keys } from '../../core/keys.ts';
import { createLogger, silentLogger } from '../../core/log.ts';
import { isLpmosError } from '../../core/errors.ts';
import { addMachine, assignMachine } from '../../core/registry/machines.ts';
import { DhcpHandler } from '../../seed/dhcp/handler.ts';
import { LeaseRepository } from '../../seed/dhcp/leases.ts';
import { StoreMachines } from '../../seed/dhcp/machines.ts';
import { RateLimiter } from '../../seed/dhcp/ratelimit.ts';
import { dhcpConfigSchema } from '../../seed/dhcp/config.ts';
import { startDhcp, parseDhcpFlags } from '../../seed/dhcp/server.ts';
import { decode, getOption, type DhcpMessage } from '../../seed/dhcp/codec.ts';
import { MsgType, Opt, ipBytes, readText } from '../../seed/dhcp/options.ts';
import { variant } from '../fixtures/dhcp/client.ts';
import { loadCapture } from '../fixtures/dhcp/pcap.ts';
import { waitFor } from '../helpers/netns.ts';

const keys = new Keys('/lpmos/', 'h');
const flags = { dhcp: 'full' as const, interface: 'p0', address: '10.213.0.1', dhcpRange: ['10.213.0.100-10.213.0.110'], dhcpRouter: '10.213.0.254' };

async function setup(extra: Partial<Parameters<typeof dhcpConfigSchema.parse>[0]> = {}) {
  const store = new MemoryStore();
  const cfg = dhcpConfigSchema.parse({ ...flags, ...extra });
  const machines = new StoreMachines(store, keys, silentLogger());
  await machines.start();
  const leases = new LeaseRepository(store, keys, silentLogger());
  const h = new DhcpHandler(cfg, { leases, machines, logger: silentLogger() });
  return { store, h, machines, leases, stop: () => machines.stop() };
}

const ovmf = loadCapture('ovmf-pxe').map((d) => decode(d.payload));
const ipxe = loadCapture('ipxe-bios').map((d) => decode(d.payload));
const udhcpc = loadCapture('udhcpc').map((d) => decode(d.payload));
const type = (m: DhcpMessage | undefined): number | undefined => (m ? getOption(m, Opt.MessageType)?.[0] : undefined);
const request = (base: DhcpMessage, ip: string, server = '10.213.0.1'): DhcpMessage =>
  variant(base, {}, [{ code: Opt.RequestedIp, data: ipBytes(ip) }, { code: Opt.ServerId, data: ipBytes(server) }]);

test('known-only: unknown PXE client ignored, known one answered', async () => {
  const { h, store, machines, stop } = await setup({ dhcpKnownOnly: true });
  try {
    assert.equal((await h.handle(ovmf[0]!, 67)).kind, 'drop');
    await addMachine(store, keys, { name: 'web-01', macs: ['52:54:00:cc:00:01'] });
    await waitFor('machine in the index', () => machines.byMac('52:54:00:cc:00:01')); // delivered by the watch
    const out = await h.handle(ovmf[0]!, 67);
    assert.equal(out.kind, 'offer');
    assert.equal(out.reply?.file, 'ipxe.efi');
  } finally { stop(); }
});

test('enroll-unknown: a PXE client becomes a discovered machine; a plain client does not', async () => {
  const { h, store, stop } = await setup();
  try {
    await h.handle(ovmf[0]!, 67);
    assert.equal((await store.get(keys.macIndex('52:54:00:cc:00:01')))?.value, 'm-525400cc0001');
    assert.match((await store.get(keys.status('m-525400cc0001')))!.value, /"state":"discovered"/);
    await h.handle(udhcpc[0]!, 67);
    assert.equal(await store.get(keys.macIndex('52:54:00:12:34:56')), undefined);
  } finally { stop(); }
});

test('reservation wins; localboot gets an address but no boot file, iPXE still gets its script', async () => {
  const { h, store, machines, stop } = await setup();
  try {
    await addMachine(store, keys, { name: 'db-01', macs: ['52:54:00:cc:00:01'], ipv4: '10.213.0.50' });
    await addMachine(store, keys, { name: 'db-02', macs: ['52:54:00:bb:00:01'] });
    await assignMachine(store, keys, 'db-01', { action: 'localboot' });
    await assignMachine(store, keys, 'db-02', { action: 'localboot' });
    await waitFor('specs in the index', async () => ((await machines.byMac('52:54:00:bb:00:01'))?.action === 'localboot' && (await machines.byMac('52:54:00:cc:00:01'))?.action ? true : undefined));
    const offer = await h.handle(ovmf[0]!, 67);
    assert.equal(offer.reply?.yiaddr, '10.213.0.50');
    assert.equal(offer.reply?.file, '');
    const ack = await h.handle(request(ovmf[2]!, '10.213.0.50'), 67);
    assert.equal(type(ack.reply), MsgType.Ack);
    // Another address than its reservation is refused.
    assert.equal(type((await h.handle(request(ovmf[2]!, '10.213.0.101'), 67)).reply), MsgType.Nak);
    const ip = await h.handle(ipxe[0]!, 67);
    assert.equal(ip.reply?.file, 'http://10.213.0.1:8080/boot.ipxe');
  } finally { stop(); }
});

test('REQUEST rules: NAK out of range or in use, silence for another server, DECLINE quarantines, INFORM has no lease', async () => {
  const { h, leases, stop } = await setup();
  try {
    const offer = await h.handle(udhcpc[0]!, 67);
    const ip = offer.reply!.yiaddr;
    assert.equal(type((await h.handle(request(udhcpc[2]!, ip), 67)).reply), MsgType.Ack);
    assert.equal(type((await h.handle(request(udhcpc[2]!, '10.213.0.200'), 67)).reply), MsgType.Nak, 'out of the range');
    assert.equal(type((await h.handle(request(udhcpc[2]!, '10.213.9.9'), 67)).reply), MsgType.Nak, 'other subnet');
    const other = variant(udhcpc[2]!, { chaddr: Uint8Array.from([2, 0, 0, 0, 0, 9, ...new Array(10).fill(0)]) }, [{ code: Opt.RequestedIp, data: ipBytes(ip) }, { code: Opt.ServerId, data: ipBytes('10.213.0.1') }], [Opt.ClientId]);
    const taken = await h.handle(other, 67);
    assert.equal(type(taken.reply), MsgType.Nak, 'in use by another MAC');
    assert.match(readText(getOption(taken.reply!, Opt.Message)) ?? '', /in use/);
    assert.equal((await h.handle(request(udhcpc[2]!, ip, '10.213.0.99'), 67)).kind, 'drop', 'client chose another server');
    const decline = variant(udhcpc[2]!, {}, [{ code: Opt.MessageType, data: Uint8Array.of(4) }, { code: Opt.RequestedIp, data: ipBytes(ip) }, { code: Opt.ServerId, data: ipBytes('10.213.0.1') }]);
    assert.equal((await h.handle(decline, 67)).kind, 'decline');
    assert.equal(leases.leaseOf('52:54:00:12:34:56'), undefined);
    const again = await h.handle(udhcpc[0]!, 67);
    assert.notEqual(again.reply!.yiaddr, ip, 'a declined address is not offered again');
    const inform = variant(udhcpc[0]!, { ciaddr: '10.213.0.77' }, [{ code: Opt.MessageType, data: Uint8Array.of(8) }]);
    const ack = await h.handle(inform, 67);
    assert.equal(type(ack.reply), MsgType.Ack);
    assert.equal(ack.reply!.yiaddr, '0.0.0.0');
    assert.equal(getOption(ack.reply!, Opt.LeaseTime), undefined);
  } finally { stop(); }
});

test('not Ethernet, BOOTREPLY, BOOTP and multicast chaddr are dropped', async () => {
  const { h, stop } = await setup();
  try {
    assert.equal((await h.handle(variant(udhcpc[0]!, { op: 2 }), 67)).kind, 'drop');
    assert.equal((await h.handle(variant(udhcpc[0]!, { hlen: 8 }), 67)).kind, 'drop');
    assert.equal((await h.handle(variant(udhcpc[0]!, {}, [], [Opt.MessageType]), 67)).kind, 'drop');
    assert.equal((await h.handle(variant(udhcpc[0]!, { chaddr: Uint8Array.from([1, 0, 0x5e, 0, 0, 1, ...new Array(10).fill(0)]) }), 67)).kind, 'drop');
  } finally { stop(); }
});

test('rate limiter: burst, then the configured rate per MAC', () => {
  const r = new RateLimiter(10, 5);
  let ok = 0;
  for (let i = 0; i < 20; i++) if (r.allow('a', 1000)) ok++;
  assert.equal(ok, 5);
  assert.equal(r.allow('b', 1000), true, 'other MACs are not affected');
  assert.equal(r.allow('a', 1100), true, '100 ms later one more token at 10/s');
  assert.equal(r.allow('a', 1100), false);
});

test('startDhcp: off stays off; without --interface it stays off and says so; bad flags name the flag', async () => {
  let logged = '';
  const logger = createLogger({ format: 'json', destination: new Writable({ write(c, _e, cb) { logged += String(c); cb(); } }) });
  const deps = { store: new MemoryStore(), keys, logger };
  assert.equal(await startDhcp({ dhcp: 'off' }, deps), undefined);
  assert.equal(await startDhcp({ ...flags, interface: undefined }, deps), undefined);
  assert.match(logged, /no --interface was given/);
  assert.throws(() => parseDhcpFlags({ ...flags, dhcpRange: ['10.213.0.1-10.213.1.9'] }), (e: unknown) => isLpmosError(e, 'E_USAGE') && e.details.some((d) => d.path === '--dhcp-range'));
});

test('full pool: no answer, one warning per 10 s naming the subnet', async () => {
  let logged = '';
  const store = new MemoryStore();
  const logger = createLogger({ format: 'json', destination: new Writable({ write(c, _e, cb) { logged += String(c); cb(); } }) });
  const cfg = dhcpConfigSchema.parse({ ...flags, dhcpRange: ['10.213.0.100-10.213.0.100'] });
  const machines = new StoreMachines(store, keys, silentLogger());
  await machines.start();
  try {
    const h = new DhcpHandler(cfg, { leases: new LeaseRepository(store, keys, silentLogger()), machines, logger });
    assert.equal((await h.handle(udhcpc[0]!, 67)).kind, 'offer');
    for (let i = 2; i < 6; i++) {
      const other = variant(udhcpc[0]!, { chaddr: Uint8Array.from([2, 0, 0, 0, 0, i, ...new Array(10).fill(0)]) }, [], [Opt.ClientId]);
      const out = await h.handle(other, 67);
      assert.equal(out.kind, 'drop');
      assert.equal(out.reply, undefined);
    }
    const lines = logged.trim().split('\n').filter((l) => l.includes('pool full'));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /"subnet":"10\.213\.0\.0\/24"/);
  } finally { machines.stop(); }
});

test('enrolment is rate-limited as a whole: a flood of made-up PXE MACs does not fill the store', async () => {
  const { h, store, stop } = await setup();
  try {
    const t0 = Date.now();
    for (let i = 0; i < 1200; i++) {
      const m = variant(ovmf[0]!, { chaddr: Uint8Array.from([2, 7, 0, 0, i >> 8, i & 255, ...new Array(10).fill(0)]) });
      await h.handle(m, 67);
    }
    const seconds = (Date.now() - t0) / 1000;
    const enrolled = (await store.list(keys.macs())).kvs.length;
    assert.ok(enrolled >= 1000, `the burst is allowed (${enrolled})`);
    assert.ok(enrolled <= 1000 + Math.ceil(20 * seconds) + 1, `${enrolled} enrolled in ${seconds} s`);
  } finally { stop(); }
});
