import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { interfaceSchema } from '../../core/model/profile.ts';
import { DebootstrapProgressParser, type DebootstrapProgress } from '../../installers/debian/progress.ts';
import {
  nicNames, renderFirstbootScript, renderFirstbootUnit, renderFstab, renderGrubDefaults, renderHostname, renderHosts,
  renderInterfaces, renderLinkFile, renderNetplan, renderSources, renderSudoers,
} from '../../installers/debian/render.ts';
import { FIXTURES, GiB, biosStorage, disk, golden, layoutOf, profile, raidStorage } from './install-fixture.ts';

const ifaces = [
  interfaceSchema.parse({ match: 'boot', dhcp: true }),
  interfaceSchema.parse({ match: { mac: '52:54:00:12:34:56' }, dhcp: false, addresses: ['192.0.2.10/24', '192.0.2.11/24'], gateway: '192.0.2.1', dns: ['192.0.2.53', '192.0.2.54'], mtu: 9000 }),
  interfaceSchema.parse({ match: { name: 'eno3' }, dhcp: false, addresses: ['198.51.100.7/25'] }),
];
const nics = nicNames(ifaces, { name: 'ens3', mac: '52:54:00:aa:bb:cc' });

describe('rendered files of the installed system (golden)', () => {
  it('fstab by UUID, root first, swap last', () => {
    const p = profile(biosStorage);
    const l = layoutOf(p, [disk('vda', 8 * GiB)]);
    golden('fstab-bios', renderFstab(l.filesystems, { '/dev/vda2': 'ABCD-1234', '/dev/vda3': '11111111-2222-3333-4444-555555555555', '/dev/vda4': '66666666-7777-8888-9999-000000000000' }));
    const r = profile(raidStorage);
    const rl = layoutOf(r, [disk('vda', 8 * GiB), disk('vdb', 8 * GiB)]);
    golden('fstab-raid-lvm', renderFstab(rl.filesystems, Object.fromEntries(rl.filesystems.map((f, i) => [f.device, `0000000${i}-aaaa-bbbb-cccc-dddddddddddd`]))));
  });
  it('hostname and hosts, with and without a domain', () => {
    assert.equal(renderHostname('web-01.example.org'), 'web-01\n');
    golden('hosts-domain', renderHosts('web-01', 'example.org'));
    golden('hosts-plain', renderHosts('web-01', undefined));
  });
  it('apt sources for Debian and Ubuntu', () => {
    golden('sources-debian.list', renderSources({ name: 'debian', version: '12', arch: 'amd64' }, 'http://10.0.0.1:8080/debian/', 'bookworm'));
    golden('sources-ubuntu.list', renderSources({ name: 'ubuntu', version: '24.04', arch: 'amd64' }, 'http://10.0.0.1:8080/ubuntu', 'noble'));
  });
  it('NIC names: MAC-matched NICs get lan<n> and a .link file; named ones keep their name', () => {
    assert.deepEqual(nics, [{ name: 'lan0', mac: '52:54:00:aa:bb:cc' }, { name: 'lan1', mac: '52:54:00:12:34:56' }, { name: 'eno3' }]);
    assert.deepEqual(nicNames([ifaces[0]!], undefined), [{ name: 'eth0' }]);
    golden('lan0.link', renderLinkFile(nics[0]!));
  });
  it('ifupdown interfaces (DHCP, static with two addresses, gateway, DNS, MTU)', () => {
    golden('interfaces', renderInterfaces(ifaces, nics));
  });
  it('netplan for Ubuntu', () => {
    golden('netplan.yaml', renderNetplan(ifaces, nics));
  });
  it('sudoers, GRUB defaults', () => {
    golden('sudoers-ops', renderSudoers('ops'));
    golden('grub-defaults.cfg', renderGrubDefaults('quiet "x"'));
  });
  it('first-boot unit and its script (bash /dev/tcp: minbase has no curl)', () => {
    golden('lpmos-firstboot.service', renderFirstbootUnit());
    golden('lpmos-firstboot.sh', renderFirstbootScript('http://10.0.0.1:8080/', 'web 01'));
    assert.throws(() => renderFirstbootScript('https://seed', 'm'), /plain HTTP/);
  });
});

describe('debootstrap progress (fd 3 of a real run, captured)', () => {
  const lines = readFileSync(join(FIXTURES, 'debootstrap-fd3.txt'), 'utf8').split('\n');
  const parser = new DebootstrapProgressParser();
  const updates = lines.map((l) => parser.feed(l)).filter((u): u is DebootstrapProgress => u !== undefined);

  it('percentages only go up, start low and end at 100', () => {
    const pct = updates.map((u) => u.percent);
    for (let i = 1; i < pct.length; i++) assert.ok((pct[i] ?? 0) >= (pct[i - 1] ?? 0), `went back at ${i}`);
    assert.ok((pct[0] ?? 100) <= 1);
    assert.equal(pct.at(-1), 100);
    assert.ok(new Set(pct).size > 50, 'many steps in between, not a jump');
  });
  it('phases in order, with the download counted in bytes', () => {
    const phases = [...new Set(updates.map((u) => u.phase))];
    assert.deepEqual(phases.slice(0, 6), ['DOWNREL', 'DOWNRELSIG', 'DOWNPKGS', 'SIZEDEBS', 'DOWNDEBS', 'EXTRACTPKGS']);
    const bytes = updates.filter((u) => u.phase === 'DOWNDEBS').map((u) => u.bytes ?? 0);
    assert.ok((bytes.at(-1) ?? 0) > 50e6, `downloaded ${bytes.at(-1)} bytes`);
    const at = (phase: string) => updates.find((u) => u.phase === phase)?.percent ?? -1;
    assert.ok(at('EXTRACTPKGS') >= 35 && at('EXTRACTPKGS') <= 45);
    // The dpkg phases count their own packages: each gets its band, none jumps to the end.
    assert.deepEqual(phases.slice(6), ['INSTCORE', 'UNPACKREQ', 'CONFREQ', 'UNPACKBASE', 'CONFBASE']);
    assert.ok(at('UNPACKREQ') < 60 && at('CONFREQ') >= 60 && at('CONFBASE') >= 85);
    assert.ok((updates.filter((u) => u.phase === 'UNPACKBASE').at(-1)?.percent ?? 100) <= 85);
  });
  it('messages with their arguments filled in', () => {
    const msgs = updates.map((u) => u.message).filter(Boolean);
    assert.ok(msgs.includes('Retrieving Packages'), msgs.slice(0, 5).join(' | '));
    assert.ok(msgs.some((m) => /^Valid Release signature \(key id [0-9A-F]+\)$/.test(m ?? '')));
    assert.ok(msgs.includes('Configuring initramfs-tools...'));
  });
  it('errors and warnings are messages; junk is ignored', () => {
    const p = new DebootstrapProgressParser();
    assert.equal(p.feed('garbage'), undefined);
    assert.equal(p.feed('P: x y DOWNREL'), undefined);
    p.feed('E: COULDNTDL');
    p.feed('EA: libc6');
    assert.equal(p.feed('EF: Couldn\'t download package %s')?.message, 'error: Couldn\'t download package libc6');
  });
});
