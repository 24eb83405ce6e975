// The lab itself (lab/network.ts, lab/vm.ts): a SeaBIOS VM on a tap of the lab bridge prints the
// iPXE ROM's banner on its serial log (fw_cfg etc/sercon-port), and sends its DHCPDISCOVER onto the
// bridge; OVMF starts its own PXE client (NIC without ROM). Stopping kills QEMU's process group,
// destroy() removes the namespace with its links, and the VM files go with the VM's directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectAccel } from '../../lab/accel.ts';
import { LabNetwork } from '../../lab/network.ts';
import { pidAlive, spawnGroup } from '../../lab/process.ts';
import { Vm } from '../../lab/vm.ts';


test('BIOS and UEFI firmware start on the lab bridge, print on serial, send DHCP; everything is removed after', { timeout: 180_000 }, async () => {
  const accel = (await detectAccel()).accel;
  const dir = mkdtempSync(join(tmpdir(), `lpmos-labtest-${process.pid}-`));
  const net = LabNetwork.create({ suffix: 'labtest' });
  const vms: Vm[] = [];
  let pids: number[] = [];
  try {
    assert.equal(net.exists(), true);
    assert.match(net.exec(['ip', '-4', 'addr', 'show', 'dev', net.bridge]), /inet 10\.213\.64\.1\/24/);
    // Watch the bridge for the firmware's DHCP (no server answers: nothing else can happen).
    const dump = spawnGroup(['tcpdump', '-l', '-n', '-e', '-i', net.bridge, 'udp port 67'], { netns: net.ns });
    for (const [firmware, mac] of [['bios', '52:54:00:1a:b0:01'], ['uefi', '52:54:00:1a:b0:02']] as const) {
      const vm = await Vm.create(
        { name: `labtest-${firmware}`, firmware, memoryMiB: 256, cpus: 1, mac, disks: [{ sizeBytes: 64 * 2 ** 20 }, { sizeBytes: 32 * 2 ** 20, format: 'qcow2' }] },
        { dir: join(dir, firmware), netns: net.ns, tap: net.addTap(), accel },
      );
      vms.push(vm);
      vm.start();
    }
    const [bios, uefi] = vms as [Vm, Vm];
    await bios.waitForSerial(/iPXE \(PCI 00:0\d\.0\) starting execution/, 90_000);
    await uefi.waitForSerial(/Start PXE over IPv4/, 120_000);
    // Both MACs on the wire.
    const deadline = Date.now() + 60_000;
    while (!(dump.output().includes('52:54:00:1a:b0:01') && dump.output().includes('52:54:00:1a:b0:02')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
    assert.match(dump.output(), /52:54:00:1a:b0:01/, `no DHCP from the BIOS VM:\n${dump.output()}`);
    assert.match(dump.output(), /52:54:00:1a:b0:02/, `no DHCP from the UEFI VM:\n${dump.output()}`);
    await dump.stop();
    pids = net.exec(['ip', 'netns', 'pids', net.ns]).split('\n').filter(Boolean).map(Number);
    assert.ok(pids.length >= 2, 'QEMU runs inside the namespace');
    assert.ok(existsSync(bios.spec.disks[1]!.file) && existsSync(uefi.spec.ovmfVars!));
  } finally {
    for (const vm of vms) await vm.destroy();
    net.destroy();
  }
  assert.equal(net.exists(), false, 'namespace removed');
  for (const vm of vms) assert.equal(existsSync(vm.dir), false, `${vm.dir} removed`);
  for (const pid of pids) assert.equal(pidAlive(pid), false, `pid ${pid} from the namespace is gone`);
  rmSync(dir, { recursive: true, force: true });
});
