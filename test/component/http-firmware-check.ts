// Manual check, not part of `npm test` (one run takes 1–9 minutes of TCG): real iPXE firmware boots
// through the seed's HTTP server. QEMU user-mode networking (its DHCP hands out the bootfile
// http://10.0.2.2:PORT/boot.ipxe; 10.0.2.2 is the host's loopback, where the server listens), no
// host interface touched. The "agent" is the given kernel with a tiny busybox initramfs whose
// /init prints /proc/cmdline to the serial console and powers off.
//
//   node test/component/http-firmware-check.ts bios|efi agent|localboot KERNEL
//
// agent: chain → /boot/ipxe (enrols the machine) → kernel + initrd; prints the kernel's command line.
// localboot: BIOS sanboots drive 0x80 (a disk whose MBR prints LPMOS-DISK-BOOTED); UEFI exits to the
// firmware, which goes on along its boot order to the disk (a FAT disk holding KERNEL as BOOTX64.EFI).
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Keys } from '../../core/keys.ts';
import { createLogger } from '../../core/log.ts';
import { startHttp } from '../../seed/http/server.ts';
import { MemoryStore } from '../../store/memory.ts';
import { freePorts } from '../../store/ports.ts';

const [mode, action, kernel] = process.argv.slice(2) as ['bios' | 'efi', 'agent' | 'localboot', string];
if (!['bios', 'efi'].includes(mode) || !['agent', 'localboot'].includes(action) || !kernel) {
  process.stderr.write('usage: node test/component/http-firmware-check.ts bios|efi agent|localboot KERNEL\n');
  process.exit(2);
}
const W = mkdtempSync(join(tmpdir(), `lpm-http-fw-${process.pid}-`));
const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { cwd: W, stdio: ['ignore', 'pipe', 'inherit'] });

function tinyInitrd(): void {
  const root = join(W, 'rootfs');
  for (const d of ['bin', 'proc', 'dev']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/usr/bin/busybox', join(root, 'bin/busybox'));
  for (const lib of execFileSync('ldd', ['/usr/bin/busybox'], { encoding: 'utf8' }).match(/\/lib[^\s]*/g) ?? []) {
    mkdirSync(join(root, lib, '..'), { recursive: true });
    copyFileSync(lib, join(root, lib));
  }
  symlinkSync('busybox', join(root, 'bin/sh'));
  writeFileSync(join(root, 'init'), '#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\necho "LPMOS-CMDLINE: $(/bin/busybox cat /proc/cmdline)"\n/bin/busybox poweroff -f\n', { mode: 0o755 });
  sh('mknod rootfs/dev/console c 5 1 && cd rootfs && find . | cpio -o -H newc 2>/dev/null | gzip -1 > ../art/initrd.img');
}

mkdirSync(join(W, 'art'));
copyFileSync(kernel, join(W, 'art/vmlinuz'));
tinyInitrd();
const entry = (name: string) => {
  const data = readFileSync(join(W, 'art', name));
  return { name, sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
};
writeFileSync(join(W, 'art/manifest.json'), JSON.stringify({ files: [entry('vmlinuz'), entry('initrd.img')] }));
// Disks for localboot: an MBR that prints via INT 10h (SeaBIOS copies it to serial), or a FAT "superfloppy" ESP.
const disk = join(W, 'disk.img');
if (mode === 'bios') {
  const code = Buffer.concat([Buffer.from('31C08ED8BE197CAC84C07409B40EBB0700CD10EBF2FAF4EBFC', 'hex'), Buffer.from('LPMOS-DISK-BOOTED\r\n\0')]);
  const mbr = Buffer.alloc(512);
  code.copy(mbr);
  mbr.writeUInt16LE(0xaa55, 510);
  writeFileSync(disk, mbr);
  sh('truncate -s 64M disk.img');
} else {
  sh(`mkfs.vfat -C disk.img 65536 >/dev/null && mmd -i disk.img ::/EFI ::/EFI/BOOT && mcopy -i disk.img art/vmlinuz ::/EFI/BOOT/BOOTX64.EFI`);
  copyFileSync('/usr/share/OVMF/OVMF_VARS.fd', join(W, 'vars.fd'));
}
writeFileSync(join(W, 'sercon'), Buffer.from([0xf8, 0x03]));

const [port] = await freePorts(1);
const store = new MemoryStore();
const keys = new Keys();
const mac = mode === 'bios' ? '52:54:00:12:34:01' : '52:54:00:12:34:02';
const id = `m-${mac.replaceAll(':', '')}`;
const logger = createLogger({ format: 'json', level: 'info', destination: createWriteStream(join(W, 'http.log')) });
const srv = await startHttp(
  { address: '127.0.0.1', port, artifacts: [join(W, 'art')], publicUrl: `http://10.0.2.2:${port}`, swarmBootstrap: '/ip4/10.0.2.2/tcp/4001' },
  { logger, store, keys, site: 'default', prefix: '/lpmos/', etcdEndpoints: ['http://10.0.2.2:2379'] },
);
if (action === 'localboot') {
  await store.put(keys.machine(id), JSON.stringify({ kind: 'Machine', name: id, macs: [mac], labels: {} }));
  await store.put(keys.macIndex(mac), id);
  await store.put(keys.spec(id), JSON.stringify({ action: 'localboot' }));
}
const serial = join(W, 'serial.log');
const args = ['-accel', 'tcg', '-m', '512', '-display', 'none', '-no-reboot', '-serial', `file:${serial}`,
  '-netdev', `user,id=n0,ipv6=off,bootfile=http://10.0.2.2:${port}/boot.ipxe`, '-device', `virtio-net-pci,netdev=n0,mac=${mac},bootindex=1`,
  '-drive', `file=${disk},if=none,id=d0,format=raw`, '-device', 'virtio-blk-pci,drive=d0,bootindex=2',
  '-smbios', 'type=1,serial=LAB SERIAL/1,uuid=4c4c4544-0042-3510-8052-b4c04f4e4b32'];
if (mode === 'bios') args.push('-boot', 'n', '-fw_cfg', `name=etc/sercon-port,file=${join(W, 'sercon')}`);
else args.push('-drive', 'if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd', '-drive', `if=pflash,format=raw,file=${join(W, 'vars.fd')}`);
const t0 = Date.now();
const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'inherit', 'inherit'] });
const done = /LPMOS-CMDLINE: .*\n|LPMOS-DISK-BOOT|starting Boot\d+ "UEFI Non-Block Boot Device"/;
const poll = setInterval(() => {
  let text = '';
  try {
    text = readFileSync(serial, 'latin1');
  } catch {
    return;
  }
  if (done.test(text)) setTimeout(() => qemu.kill(), 2000);
}, 1000);
const deadline = setTimeout(() => qemu.kill(), 10 * 60_000);
try {
  await new Promise((r) => qemu.once('exit', r));
} finally {
  clearInterval(poll);
  clearTimeout(deadline);
  await srv.stop();
  await store.close();
}
const text = readFileSync(serial, 'latin1');
process.stdout.write(`${mode}/${action}: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
for (const line of readFileSync(join(W, 'http.log'), 'utf8').split('\n').filter(Boolean)) {
  const l = JSON.parse(line) as Record<string, unknown>;
  if (l.msg === 'http request') process.stdout.write(`  ${l.method} ${l.path} ${l.status} ${l.bytes} bytes\n`);
}
for (const m of text.match(/LPMOS-CMDLINE: .*|LPMOS-DISK-BOOT\w*|Booting from SAN device 0x80|EFI stub: .*|BdsDxe: starting .*/g) ?? []) process.stdout.write(`  serial: ${m}\n`);
rmSync(W, { recursive: true, force: true });
process.exit(done.test(text) ? 0 : 1);
