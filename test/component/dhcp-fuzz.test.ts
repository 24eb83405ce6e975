// Fuzz: 100,000 mutated fixture packets sent to a running server over a real socket; the server
// counts and drops what is malformed, never throws, and a real client (udhcpc) still gets a lease.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, inNetns } from '../helpers/netns.ts';
import { ScriptedClient } from '../fixtures/dhcp/client.ts';
import { MemoryStore } from '../../store/memory.ts';
import { Keys } from '../../core/keys.ts';
import { silentLogger } from '../../core/log.ts';
import { DhcpServer } from '../../seed/dhcp/server.ts';
import { dhcpConfigSchema } from '../../seed/dhcp/config.ts';
import { openDeviceFd, wrapFd } from '../../seed/dhcp/udp-device.ts';
import { allPayloads } from '../fixtures/dhcp/pcap.ts';
import { mutate, prng } from '../fixtures/dhcp/mutate.ts';

const lab = new Lab('dhcp');
let server: DhcpServer | undefined;
let sender: ScriptedClient | undefined;
let cliNs = '';
const TOTAL = Number(process.env.LPMOS_FUZZ_PACKETS ?? 100_000);

before(async () => {
  const seedNs = lab.netns('fseed');
  cliNs = lab.netns('fcli');
  const lan = lab.netns('flan');
  lab.veth({ ns: seedNs, name: 'p0', address: '10.213.0.1/22' }, { ns: lan, name: 'ls' });
  lab.veth({ ns: cliNs, name: 'c0', address: '10.213.0.60/22' }, { ns: lan, name: 'l0' });
  lab.veth({ ns: cliNs, name: 'c1' }, { ns: lan, name: 'l1' });
  lab.bridge(lan, 'br0', ['ls', 'l0', 'l1']);
  const parsed = dhcpConfigSchema.parse({ dhcp: 'full', interface: 'p0', address: '10.213.0.1', dhcpRange: ['10.213.0.100-10.213.3.250/22'], dhcpRouter: '10.213.0.1', dhcpLeaseTime: 600 });
  // No rate limit and a short offer hold: every decodable packet reaches the handler.
  const config = { ...parsed, rateLimit: { perSecond: 1e9, burst: 1e9 }, offerHold: 1 };
  server = new DhcpServer(config, {
    store: new MemoryStore(), keys: new Keys('/lpmos/', 'fuzztest'), logger: silentLogger(),
    openSocket: (port) => wrapFd(inNetns(seedNs, () => openDeviceFd({ iface: 'p0', port }))),
  });
  await server.start();
  sender = await ScriptedClient.open(cliNs, { port: 68, iface: 'c0', address: '10.213.0.60' });
});

after(async () => {
  sender?.close();
  await server?.stop();
  await lab.cleanup();
});

test(`${TOTAL.toLocaleString('en')} mutated packets: counted, dropped or answered, never fatal; a real client still gets a lease`, async (t) => {
  const bases = allPayloads().filter((p) => p.payload[0] === 1).map((p) => p.payload); // client requests
  const rnd = prng(0xdecaf);
  const c = server!.counters;
  const start = c.received;
  const t0 = Date.now();
  for (let sent = 0; sent < TOTAL; ) {
    const batch = Math.min(256, TOTAL - sent);
    await Promise.all(Array.from({ length: batch }, () => new Promise<void>((resolve) => {
      sender!.sock.send(mutate(bases, rnd), 67, '10.213.0.1', () => resolve());
    })));
    sent += batch;
    if (process.env.LPMOS_FUZZ_DEBUG && sent % 5120 === 0) console.error(sent, JSON.stringify(c));
    // Flow control: let the server catch up so the kernel does not drop most of the flood.
    // The kernel may still drop some when its buffer is full: stop waiting once the server is idle.
    let last = -1;
    while (c.received - start < sent - 512 && c.received !== last) {
      last = c.received;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  await new Promise((r) => setTimeout(r, 500));
  const received = c.received - start;
  t.diagnostic(`flood took ${Date.now() - t0} ms; counters ${JSON.stringify(c)}`);
  assert.ok(received >= TOTAL * 0.95, `server received ${received} of ${TOTAL}`);
  assert.ok(c.malformed > 1000, `malformed counted: ${c.malformed}`);
  assert.ok(c.offers > 1000, `offers: ${c.offers}`);
  assert.equal(c.errors, 0, `handler errors: ${JSON.stringify(c)}`);
  // After the flood (offers held 1 s), an ordinary client still gets a lease.
  await new Promise((r) => setTimeout(r, 1200));
  const r = await lab.run(cliNs, ['udhcpc', '-f', '-q', '-n', '-i', 'c1', '-s', '/bin/true', '-t', '5', '-T', '1']);
  assert.equal(r.code, 0, `${r.stderr}\ncounters ${JSON.stringify(c)}`);
  assert.match(r.stderr, /lease of 10\.213\.[0-3]\.\d+ obtained from 10\.213\.0\.1/);
});
