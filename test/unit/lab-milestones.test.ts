// lab/milestones.ts: boot milestones recognised in serial console text (lines as captured from the
// lab's SeaBIOS and OVMF machines).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { milestonesIn } from '../../lab/milestones.ts';

const BIOS = [
  'iPXE (PCI 00:02.0) starting execution...ok',
  'iPXE initialising devices...ok',
  'Configuring (net0 52:54:00:11:00:01).................. ok',
  'http://10.213.64.1:8080/boot.ipxe... ok',
  'LPMOS: machine m-525400110001 (52:54:00:11:00:01): loading the agent (discover)',
  'Probing EDD (edd=off to disable)... oc[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)',
  '[   84.550145] Run /init as init process',
  'lpmos-init: DHCP on ens2 (52:54:00:11:00:01)',
  '{"level":30,"time":"2026-11-22T16:32:21.720Z","name":"agent","msg":"agent starting"}',
  '{"level":30,"time":"2026-11-22T16:32:40.096Z","name":"agent","machine":"m-525400110001","state":"inspected","msg":"inventory reported"}',
].join('\r\n');

test('every milestone of a complete boot, in order', () => {
  assert.deepEqual(milestonesIn(BIOS), ['firmware-pxe', 'ipxe-script', 'agent-download', 'kernel', 'init', 'dhcp', 'agent', 'inventory']);
});

test('through the ramdisk\'s stage 0 the ramdisk /init starts when stage 0 has unpacked it, not at the kernel\'s "Run /stage0/init"', () => {
  assert.deepEqual(milestonesIn('[    4.4] Run /stage0/init as init process\n'), []);
  assert.deepEqual(milestonesIn('[    4.4] Run /stage0/init as init process\nlpmos-stage0: unpacked 3 layers of /lpmos-initrd.img (105607341 bytes); kept for the agent\n'), ['init']);
});

test('a boot that stopped early has only the first milestones; OVMF\'s PXE counts as firmware', () => {
  assert.deepEqual(milestonesIn('>>Start PXE over IPv4.\r\n  Station IP address is 10.213.64.101\r\n'), ['firmware-pxe']);
  assert.deepEqual(milestonesIn(''), []);
  // The agent failing is not an inventory.
  assert.deepEqual(milestonesIn('{"msg":"agent starting"}\n{"level":50,"msg":"agent failed"}'), ['agent']);
});
