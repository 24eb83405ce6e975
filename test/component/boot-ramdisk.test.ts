// Boots the agent ramdisk in QEMU (TCG, -kernel/-initrd, no firmware) with a probe agent and checks that the
// init got to the agent with the tools, node, the boot NIC's driver and a DHCP address, and that a failing
// agent leaves a working shell on the console. The ramdisk is built once and cached (test/helpers/ramdisk.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootQemu, probeRamdisk } from '../helpers/ramdisk.ts';

const MAC = '52:54:00:4c:50:01';

test('the agent ramdisk boots in QEMU: init, udev, DHCP on BOOTIF, agent start, tools, console on failure', { timeout: 20 * 60_000 }, async (t) => {
  const t0 = Date.now();
  const rd = await probeRamdisk();
  const built = (Date.now() - t0) / 1000;
  t.diagnostic(`ramdisk ${rd.cached ? 'cached' : 'built'} in ${built.toFixed(1)} s: initrd ${(rd.manifest.initrd.size / 1e6).toFixed(1)} MB (${rd.manifest.initrd.compression}), kernel ${rd.manifest.kernel.release}`);
  assert.ok(rd.manifest.initrd.size < 150e6, `initrd is ${rd.manifest.initrd.size} bytes, the goal is ≤ 150 MB`);

  const vm = await bootQemu({
    kernel: rd.kernel,
    initrd: rd.initrd,
    mac: MAC,
    append: `console=ttyS0,115200 panic=-1 BOOTIF=01-${MAC.replaceAll(':', '-')} lpmos.site=lab-${process.pid} lpmos.seed=http://10.0.2.2:8080`,
  });
  try {
    const tBoot = Date.now();
    await vm.waitFor(/lpmos-init: starting udev/, 5 * 60_000);
    // Up to the end of the line: the serial log can be read mid-line ("iface=ens" before the "3").
    const start = await vm.waitFor(/LPMOS-TEST-AGENT-START argv=(\S+) site=(\S+) iface=(\S+)\r?\n/, 3 * 60_000);
    t.diagnostic(`VM start → agent start: ${((Date.now() - tBoot) / 1000).toFixed(1)} s`);
    assert.equal(start[1], '["agent"]', 'init runs `lpmos agent`');
    assert.equal(start[2], `lab-${process.pid}`, 'lpmos.site from the kernel command line reaches the agent as LPMOS_SITE');
    await vm.waitFor(/LPMOS-TEST-AGENT-END/, 60_000);
    const line = (k: string) => vm.output().match(new RegExp(`LPMOS-TEST ${k}=([^\\r\\n]*)`))?.[1] ?? '';
    assert.match(line('node'), /^v24\.\d+\.\d+$/);
    assert.match(line('mdadm'), /^mdadm - v4\.\d/);
    assert.match(line('sgdisk'), /GPT fdisk \(sgdisk\) version/);
    assert.match(line('mkfs'), /mkfs\.xfs version .* \| mke2fs/);
    assert.match(line('modules'), /\bvirtio_net\b/, 'udev loaded the NIC driver from the pruned module set');
    // QEMU's user-mode network (restrict=on: nothing leaves the VM) hands out 10.0.2.15 by DHCP.
    assert.match(line('addr'), new RegExp(`${start[3]}\\s+inet 10\\.0\\.2\\.15/24`), `DHCP address on the BOOTIF interface ${start[3]}: ${line('addr')}`);

    // The probe agent exits 3: init reports it and keeps a shell on the console.
    await vm.waitFor(/lpmos-init: ERROR: the agent stopped \(exit status 3\)/, 60_000);
    const at = vm.output().length;
    await new Promise((r) => setTimeout(r, 1000));
    vm.type('echo SHELL-$((6*7)) $(cat /run/lpmos/agent.rc)\n');
    await vm.waitFor(/SHELL-42 3/, 60_000, at);
    vm.type('poweroff\n');
    const code = await Promise.race([vm.exited, new Promise((r) => setTimeout(() => r('timeout'), 60_000).unref())]);
    assert.equal(code, 0, '`poweroff` on the console shell powers the VM off');
    t.diagnostic(`whole test ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await vm.stop();
  }
});
