import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode, getOption, type DhcpMessage } from '../../seed/dhcp/codec.ts';
import { classify } from '../../seed/dhcp/classify.ts';
import { planBoot, planReply, replyDestination, admit } from '../../seed/dhcp/plan.ts';
import { dhcpConfigSchema, parseRange } from '../../seed/dhcp/config.ts';
import { MsgType, Opt, readText, readIp, readU32 } from '../../seed/dhcp/options.ts';
import { loadCapture } from '../fixtures/dhcp/pcap.ts';

const cfg = dhcpConfigSchema.parse({
  dhcp: 'full', interface: 'prov0', address: '10.213.0.1', dhcpRange: ['10.213.0.100-10.213.0.199'],
  dhcpRouter: '10.213.0.1', dhcpDns: ['10.213.0.1', '10.213.0.2'], dhcpDomain: 'lab.test', httpPort: 8080,
});
const first = (name: string): DhcpMessage => decode(loadCapture(name)[0]!.payload);
const withArch = (code: number, vendor = 'PXEClient'): DhcpMessage => {
  const m = first('ovmf-pxe');
  return decode(encode({ ...m, options: [...m.options.filter((o) => o.code !== 93 && o.code !== 60), { code: 93, data: Uint8Array.of(0, code) }, { code: 60, data: new Uint8Array(Buffer.from(vendor)) }] }));
};

test('boot file per architecture', () => {
  assert.equal(planBoot(classify(withArch(0)), undefined, cfg).boot?.file, 'undionly.kpxe');
  assert.equal(planBoot(classify(first('ovmf-pxe')), undefined, cfg).boot?.file, 'ipxe.efi');
  assert.equal(planBoot(classify(withArch(9)), undefined, cfg).boot?.file, 'ipxe.efi');
  assert.equal(planBoot(classify(withArch(11)), undefined, cfg).boot?.file, 'ipxe-arm64.efi');
  const snp = { ...cfg, loaders: { ...cfg.loaders, uefiX64: 'snponly.efi' } };
  assert.equal(planBoot(classify(withArch(7)), undefined, snp).boot?.file, 'snponly.efi');
  const http = planBoot(classify(withArch(16, 'HTTPClient')), undefined, cfg).boot;
  assert.equal(http?.file, 'http://10.213.0.1:8080/ipxe.efi');
  assert.equal(http?.vendorClass, 'HTTPClient');
  const ipxe = planBoot(classify(first('ipxe-bios')), undefined, cfg).boot;
  assert.equal(ipxe?.file, 'http://10.213.0.1:8080/boot.ipxe');
  assert.equal(ipxe?.vendorClass, 'PXEClient', 'iPXE recognises proxy offers by vendor class PXEClient');
  assert.equal(planBoot(classify(first('udhcpc')), undefined, cfg).boot, undefined);
});

test('localboot: no boot file for firmware PXE, the script for iPXE', () => {
  const m = { id: 'web-01', action: 'localboot' };
  assert.equal(planBoot(classify(first('ovmf-pxe')), m, cfg).boot, undefined);
  assert.match(planBoot(classify(first('ipxe-bios')), m, cfg).boot!.file, /boot\.ipxe$/);
});

test('admission: known-only, enroll-unknown, proxy answers PXE only', () => {
  const pxe = classify(first('ovmf-pxe'));
  const plain = classify(first('udhcpc'));
  assert.deepEqual(admit(pxe, undefined, { mode: 'full', knownOnly: false }).enroll, true);
  assert.equal(admit(plain, undefined, { mode: 'full', knownOnly: false }).answer, true);
  assert.equal(admit(plain, undefined, { mode: 'full', knownOnly: false }).enroll, false);
  assert.equal(admit(pxe, undefined, { mode: 'full', knownOnly: true }).answer, false);
  assert.equal(admit(pxe, { id: 'a' }, { mode: 'full', knownOnly: true }).answer, true);
  assert.equal(admit(plain, undefined, { mode: 'proxy', knownOnly: false }).answer, false);
  assert.equal(admit(pxe, undefined, { mode: 'proxy', knownOnly: false }).answer, true);
});

test('full-mode OFFER carries lease, T1/T2, mask, router, DNS, domain, siaddr and file', () => {
  const req = first('ovmf-pxe');
  const boot = planBoot(classify(req), undefined, cfg).boot;
  const r = decode(encode(planReply(req, { type: MsgType.Offer, yiaddr: '10.213.0.100', serverId: '10.213.0.1', subnet: cfg.subnets[0]!, boot })));
  assert.equal(r.op, 2);
  assert.equal(r.xid, req.xid);
  assert.equal(r.yiaddr, '10.213.0.100');
  assert.equal(r.siaddr, '10.213.0.1');
  assert.equal(r.file, 'ipxe.efi');
  assert.equal(getOption(r, Opt.MessageType)?.[0], MsgType.Offer);
  assert.equal(readU32(getOption(r, Opt.LeaseTime)), 3600);
  assert.equal(readU32(getOption(r, Opt.RenewalTime)), 1800);
  assert.equal(readU32(getOption(r, Opt.RebindingTime)), 3150);
  assert.equal(readIp(getOption(r, Opt.SubnetMask)), '255.255.255.0');
  assert.equal(readIp(getOption(r, Opt.Router)), '10.213.0.1');
  assert.deepEqual([...getOption(r, Opt.DnsServers)!], [10, 213, 0, 1, 10, 213, 0, 2]);
  assert.equal(readText(getOption(r, Opt.DomainName)), 'lab.test');
  assert.equal(readText(getOption(r, Opt.VendorClass)), 'PXEClient');
  assert.equal(readText(getOption(r, Opt.TftpServerName)), '10.213.0.1', 'OVMF asks for 66 and 67 in option 55');
  assert.equal(readText(getOption(r, Opt.BootfileName)), 'ipxe.efi');
});

test('proxy reply: no address, no lease options, boot info and PXEClient', () => {
  const req = first('ovmf-pxe');
  const boot = planBoot(classify(req), undefined, cfg).boot;
  const r = planReply(req, { type: MsgType.Offer, yiaddr: '0.0.0.0', serverId: '10.213.0.1', subnet: cfg.subnets[0]!, boot, proxy: true });
  assert.equal(r.yiaddr, '0.0.0.0');
  assert.equal(getOption(r, Opt.LeaseTime), undefined);
  assert.equal(getOption(r, Opt.Router), undefined);
  assert.equal(readText(getOption(r, Opt.VendorClass)), 'PXEClient');
  assert.equal(r.file, 'ipxe.efi');
});

test('relay: option 82 echoed, NAK broadcast bit, reply to giaddr:67', () => {
  const req = decode(encode({ ...first('udhcpc'), giaddr: '10.213.4.1', options: [...first('udhcpc').options, { code: 82, data: Uint8Array.of(1, 2, 0x41, 0x42) }] }));
  const ack = planReply(req, { type: MsgType.Ack, yiaddr: '10.213.4.10', serverId: '10.213.0.1', subnet: cfg.subnets[0]! });
  assert.deepEqual([...getOption(ack, Opt.RelayAgentInfo)!], [1, 2, 0x41, 0x42]);
  assert.equal(ack.options.at(-1)?.code, Opt.RelayAgentInfo);
  assert.deepEqual(replyDestination(req, ack, { address: '10.213.4.1', port: 67 }, 67), { address: '10.213.4.1', port: 67 });
  const nak = planReply({ ...req, flags: 0 }, { type: MsgType.Nak, yiaddr: '0.0.0.0', serverId: '10.213.0.1' });
  assert.equal(nak.flags & 0x8000, 0x8000);
  assert.equal(nak.yiaddr, '0.0.0.0');
});

test('destinations: ciaddr unicast, broadcast otherwise, proxy port answers the source', () => {
  const req = first('dhclient');
  const renew = { ...req, ciaddr: '10.213.0.111' };
  const ack = planReply(renew, { type: MsgType.Ack, yiaddr: '10.213.0.111', serverId: '10.213.0.1', subnet: cfg.subnets[0]! });
  assert.deepEqual(replyDestination(renew, ack, { address: '10.213.0.111', port: 68 }, 67), { address: '10.213.0.111', port: 68 });
  const nak = planReply(renew, { type: MsgType.Nak, yiaddr: '0.0.0.0', serverId: '10.213.0.1' });
  assert.deepEqual(replyDestination(renew, nak, { address: '10.213.0.111', port: 68 }, 67), { address: '255.255.255.255', port: 68 });
  assert.deepEqual(replyDestination(req, ack, { address: '0.0.0.0', port: 68 }, 67), { address: '255.255.255.255', port: 68 });
  assert.deepEqual(replyDestination(req, ack, { address: '10.213.0.120', port: 68 }, 4011), { address: '10.213.0.120', port: 68 });
});

test('config: flags validated, errors name the flag', () => {
  const bad = dhcpConfigSchema.safeParse({ dhcp: 'full', interface: 'prov0', dhcpRange: ['10.213.0.9-10.213.0.1'] });
  assert.equal(bad.success, false);
  const paths = bad.error!.issues.map((i) => i.path.join('.'));
  for (const p of ['address', 'dhcpRange']) assert.ok(paths.includes(p), `${p} not in ${paths.join()}`);
  const dns = dhcpConfigSchema.safeParse({ dhcp: 'full', interface: 'prov0', address: '10.213.0.1', dhcpRange: ['10.213.0.9-10.213.0.11'], dhcpDns: ['10.213.0'] });
  assert.deepEqual(dns.error?.issues.map((i) => i.path.join('.')), ['dhcpDns.0']);
  // No --interface: valid config, but startDhcp keeps DHCP off and says so (never default into serving).
  assert.equal(dhcpConfigSchema.parse({ dhcp: 'full', address: '10.213.0.1', dhcpRange: ['10.213.0.10-10.213.0.20'] }).interface, undefined);
  assert.equal(dhcpConfigSchema.parse({}).mode, 'off');
  const s = parseRange('10.213.8.10-10.213.8.200/22,router=10.213.8.1,dns=10.213.0.1+10.213.0.2,lease=120', { dns: [], leaseTime: 3600 });
  assert.equal(s.network, '10.213.8.0');
  assert.equal(s.mask, '255.255.252.0');
  assert.equal(s.broadcast, '10.213.11.255');
  assert.equal(s.router, '10.213.8.1');
  assert.deepEqual(s.dns, ['10.213.0.1', '10.213.0.2']);
  assert.equal(s.leaseTime, 120);
  assert.throws(() => parseRange('10.213.0.0-10.213.0.10', { dns: [], leaseTime: 60 }), /network or broadcast/);
});

test('boot URLs follow --http-public-url when given', () => {
  const c = dhcpConfigSchema.parse({ dhcp: 'proxy', interface: 'p0', address: '10.213.0.1', httpPublicUrl: 'http://seed.lab.test:8081/' });
  assert.equal(planBoot(classify(first('ipxe-bios')), undefined, c).boot?.file, 'http://seed.lab.test:8081/boot.ipxe');
});
