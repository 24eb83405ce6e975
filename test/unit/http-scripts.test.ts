// Golden files for every script the seed's HTTP server renders (test/fixtures/http/), and the
// agent's command line decoded by the agent's own parser (core/cmdline.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAgentCmdline, parseCmdline } from '../../core/cmdline.ts';
import { isLpmosError } from '../../core/errors.ts';
import { chainScript, grubMenu, ipxeScript, pxelinuxMenu, type ScriptEnv, type ScriptMachine } from '../../seed/http/boot-scripts.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'http');

/** Compares with test/fixtures/http/<name>; UPDATE_GOLDEN=1 rewrites the file instead. */
function golden(name: string, actual: string): void {
  const file = join(FIXTURES, name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
  assert.equal(actual, readFileSync(file, 'utf8'), `${name} differs from its golden file (UPDATE_GOLDEN=1 to accept)`);
}

const env: ScriptEnv = {
  seedUrl: 'http://10.213.16.1:8080',
  etcd: ['http://10.213.16.1:2379', 'http://10.213.16.2:2379'],
  site: 'dc1',
  prefix: '/lpmos/',
  swarmBootstrap: '/ip4/10.213.16.1/tcp/4001/p2p/12D3KooWSeed',
  agentKernel: 'vmlinuz',
  agentInitrd: 'agent/initrd.img',
  console: 'console=tty0 console=ttyS0,115200n8',
  cmdline: 'quiet',
};
const install: ScriptMachine = { id: 'web-01', mac: '52:54:00:12:34:56', action: 'install', kernelCmdline: 'lpmos.debug=1' };
const discover: ScriptMachine = { id: 'm-525400123457', mac: '52:54:00:12:34:57', action: 'discover' };
const local: ScriptMachine = { id: 'web-01', mac: '52:54:00:12:34:56', action: 'localboot' };

/** The `kernel` line's arguments of an iPXE agent script. */
function ipxeKernelArgs(script: string): string {
  const line = script.split('\n').find((l) => l.startsWith('kernel '));
  assert.ok(line, 'a kernel line');
  return line.replace(/^kernel \S+ /, '').replace(/ \|\| goto failed$/, '');
}

test('golden: the /boot.ipxe chain script sends identity with iPXE settings', () => {
  const s = chainScript(env);
  golden('boot.ipxe', s);
  assert.match(s, /^#!ipxe\n/);
  assert.ok(s.includes('chain http://10.213.16.1:8080/boot/ipxe?mac=${netX/mac}&uuid=${uuid}&serial=${serial:uristring}&arch=${buildarch}&platform=${platform} || goto failed'));
});

test('golden: iPXE agent scripts (install, discover) carry every kernel argument', () => {
  const s = ipxeScript(env, install, { arch: 'x86_64', platform: 'efi' });
  golden('ipxe-install.ipxe', s);
  golden('ipxe-discover.ipxe', ipxeScript(env, discover, { arch: 'i386', platform: 'pcbios' }));
  const args = ipxeKernelArgs(s);
  const decoded = decodeAgentCmdline(args);
  assert.deepEqual(decoded, {
    seed: 'http://10.213.16.1:8080', etcd: ['http://10.213.16.1:2379', 'http://10.213.16.2:2379'], site: 'dc1', prefix: '/lpmos/',
    bootstrap: ['/ip4/10.213.16.1/tcp/4001/p2p/12D3KooWSeed'], machine: 'web-01', bootMac: '52:54:00:12:34:56',
  });
  const p = parseCmdline(args);
  assert.equal(p.get('initrd'), 'initrd.img', 'UEFI iPXE finds the initrd by this name');
  assert.equal(p.get('lpmos.action'), 'install');
  assert.equal(p.get('lpmos.debug'), '1', 'the machine override is there');
  assert.equal(p.get('console'), 'ttyS0,115200n8');
  assert.ok(args.endsWith('quiet lpmos.debug=1'), 'site extras, then the machine override last');
  assert.ok(s.includes('initrd --name initrd.img http://10.213.16.1:8080/artifacts/agent/initrd.img || goto failed'));
  assert.ok(s.includes('kernel http://10.213.16.1:8080/artifacts/vmlinuz '));
});

test('golden: with stage 0 on the seed, iPXE on BIOS loads stage 0 and the ramdisk as the file it keeps; UEFI the initramfs', () => {
  const withStage0: ScriptEnv = { ...env, agentStage0: 'stage0.img' };
  const any = ipxeScript(withStage0, install, { arch: 'x86_64' });
  golden('ipxe-install-stage0.ipxe', any);
  const lines = any.split('\n');
  const at = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix));
  // BIOS branch first, decided by iPXE's own platform setting; the initramfs path after the label.
  assert.ok(at('iseq ${platform} pcbios || goto initramfs') >= 0);
  const keepKernel = lines.find((l) => l.startsWith('kernel '))!;
  const p = parseCmdline(keepKernel.replace(/^kernel \S+ /, '').replace(/ \|\| goto failed$/, ''));
  assert.equal(p.get('rdinit'), '/stage0/init', 'the kernel runs stage 0');
  assert.equal(p.get('lpmos.debug'), '1', 'the machine override is there too');
  assert.equal(decodeAgentCmdline(keepKernel.replace(/^kernel \S+ /, '').replace(/ \|\| goto failed$/, '')).machine, 'web-01');
  assert.ok(lines.includes('initrd --name stage0 http://10.213.16.1:8080/artifacts/stage0.img || goto failed'));
  assert.ok(lines.includes('initrd --name initrd.img http://10.213.16.1:8080/artifacts/agent/initrd.img /lpmos-initrd.img || goto failed'), 'the ramdisk is wrapped as the file stage 0 unpacks');
  assert.ok(at('initrd --name stage0') < at(':initramfs') && at(':initramfs') < at('initrd --name initrd.img http://10.213.16.1:8080/artifacts/agent/initrd.img ||'));
  // The initramfs path after the label is the one without stage 0.
  const plain = lines.slice(at(':initramfs'));
  assert.ok(!plain.some((l) => l.includes('rdinit=') || l.includes('stage0')));
  // Known BIOS: the same branch; known UEFI: no stage 0 at all.
  assert.equal(ipxeScript(withStage0, install, { arch: 'x86_64', platform: 'pcbios' }), any);
  const efi = ipxeScript(withStage0, install, { arch: 'x86_64', platform: 'efi' });
  assert.equal(efi, ipxeScript(env, install, { arch: 'x86_64', platform: 'efi' }), 'UEFI: as without stage 0');
  // Without stage 0 on the seed: no branch.
  assert.ok(!ipxeScript(env, install, { arch: 'x86_64', platform: 'pcbios' }).includes('stage0'));
});

test('golden: localboot differs for BIOS (sanboot drive 0x80) and UEFI (exit); unknown platform decides in iPXE', () => {
  const bios = ipxeScript(env, local, { platform: 'pcbios', arch: 'i386' });
  const efi = ipxeScript(env, local, { platform: 'efi', arch: 'x86_64' });
  const either = ipxeScript(env, local, {});
  golden('ipxe-localboot-bios.ipxe', bios);
  golden('ipxe-localboot-efi.ipxe', efi);
  golden('ipxe-localboot-any.ipxe', either);
  const commands = (s: string) => s.split('\n').filter((l) => l && !l.startsWith('#'));
  assert.deepEqual(commands(bios), ['sanboot --no-describe --drive 0x80 || exit']);
  assert.deepEqual(commands(efi), ['exit']);
  assert.ok(either.includes('iseq ${platform} efi && goto efi ||'));
  for (const s of [bios, efi, either]) assert.ok(!s.includes('kernel '), 'no agent for localboot');
});

test('golden: GRUB and pxelinux menus over HTTP', () => {
  golden('grub-install.cfg', grubMenu(env, install));
  golden('grub-default.cfg', grubMenu(env, undefined));
  golden('pxelinux-install.cfg', pxelinuxMenu(env, install));
  golden('pxelinux-localboot.cfg', pxelinuxMenu(env, local));
  golden('pxelinux-default.cfg', pxelinuxMenu(env, undefined));
  const grub = grubMenu(env, install);
  assert.ok(grub.includes('linux (http,10.213.16.1:8080)/artifacts/vmlinuz '));
  assert.ok(grub.includes('BOOTIF=01-52-54-00-12-34-56'));
  // pxelinux appends BOOTIF itself (IPAPPEND 2): not twice.
  const append = pxelinuxMenu(env, install).split('\n').find((l) => l.trim().startsWith('APPEND '));
  assert.ok(append?.includes('lpmos.machine=web-01') && !append.includes('BOOTIF='), append);
});

test('a kernelCmdline override with a line break is refused (it would inject script commands)', () => {
  const evil: ScriptMachine = { ...install, kernelCmdline: 'quiet\nshell' };
  assert.throws(() => ipxeScript(env, evil, {}), (e: unknown) => isLpmosError(e, 'E_VALIDATION') && /kernelCmdline/.test(e.message));
  assert.throws(() => grubMenu(env, evil), (e: unknown) => isLpmosError(e, 'E_VALIDATION'));
});

test('no agent for an architecture it cannot run on; localboot works for any', () => {
  assert.throws(() => ipxeScript(env, install, { arch: 'arm64', platform: 'efi' }), (e: unknown) => isLpmosError(e, 'E_VALIDATION') && /arm64/.test(e.message));
  assert.ok(ipxeScript(env, local, { arch: 'arm64', platform: 'efi' }).includes('exit'));
});
