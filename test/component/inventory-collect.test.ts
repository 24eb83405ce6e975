// The inventory collector on this machine, with its real tools, checked against facts read
// independently (free, nproc, /sys/block, /sys/class/net); then with tools missing, broken or hanging.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectInventory } from '../../agent/inventory/collect.ts';
import { inventorySchema, summarizeInventory } from '../../core/model/inventory.ts';

function tempBin(scripts: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), `lpmos-inv-${process.pid}-`));
  for (const [name, body] of Object.entries(scripts)) {
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
  }
  return dir;
}

test('inventory of this machine validates and matches free, nproc, /sys/block and /sys/class/net', async () => {
  const inv = await collectInventory({ signal: AbortSignal.timeout(30_000) });
  assert.equal(inventorySchema.safeParse(inv).success, true);

  // free -b reads the same MemTotal, in bytes
  const free = execFileSync('free', ['-b'], { encoding: 'utf8' });
  const memLine = free.split('\n').find((l) => l.startsWith('Mem:'));
  assert.equal(inv.memory.totalBytes, Number(memLine?.split(/\s+/)[1]));

  assert.equal(inv.cpu.threads, Number(execFileSync('nproc', ['--all'], { encoding: 'utf8' }).trim()));
  assert.ok(inv.cpu.sockets !== null && inv.cpu.sockets >= 1);
  assert.ok(inv.cpu.cores !== null && inv.cpu.cores >= inv.cpu.sockets);

  // The same disks /sys/block lists, less the virtual kinds (RAM, zram, loop, device-mapper, md, optical)
  const sysDisks = readdirSync('/sys/block')
    .filter((n) => !/^(loop|ram|zram|fd|nbd|dm-|md|sr)\d*/.test(n) && Number(readFileSync(`/sys/block/${n}/size`, 'utf8')) > 0)
    .sort();
  assert.deepEqual(inv.disks.map((d) => d.name).sort(), sysDisks);
  for (const d of inv.disks) {
    const sectors = Number(readFileSync(`/sys/block/${d.name}/size`, 'utf8').trim());
    assert.equal(d.sizeBytes, sectors * 512, `${d.name}: size from /sys/block (512-byte units)`);
    const serialFile = `/sys/block/${d.name}/serial`;
    if (existsSync(serialFile) && readFileSync(serialFile, 'utf8').trim() !== '') {
      assert.equal(d.serial, readFileSync(serialFile, 'utf8').trim(), `${d.name}: serial as sysfs has it`);
    }
  }

  assert.ok(inv.nics.length >= 1, 'at least one Ethernet interface');
  for (const n of inv.nics) {
    const addr = readFileSync(`/sys/class/net/${n.name}/address`, 'utf8').trim();
    assert.equal(n.currentMac ?? n.mac, addr, `${n.name}: address in use`);
    // a NIC on a bus has a `device` link in sysfs; virtual links have none
    if (n.kind === 'physical' || n.kind === 'virtual') assert.equal(n.kind === 'physical', existsSync(`/sys/class/net/${n.name}/device`), `${n.name}: kind`);
  }
  assert.equal(inv.nics.some((n) => n.name === 'lo'), false);
  assert.equal(inv.bootMode, existsSync('/sys/firmware/efi') ? 'uefi' : 'bios');

  const s = summarizeInventory(inv);
  assert.equal(s.cpus, inv.cpu.threads);
  assert.equal(s.disks.count, inv.disks.length);
});

test('with no tools on PATH the inventory is still valid and names every missing tool', async () => {
  const empty = tempBin({});
  try {
    const inv = await collectInventory({ env: { PATH: empty }, timeoutMs: 5_000 });
    assert.equal(inventorySchema.safeParse(inv).success, true);
    const missing = inv.unknown.filter((u) => u.reason === 'not installed').map((u) => u.source.split(' ')[0]);
    for (const t of ['lscpu', 'dmidecode', 'lsblk', 'ip', 'lspci', 'systemd-detect-virt']) assert.ok(missing.includes(t), `${t} reported missing`);
    assert.equal(inv.cpu.threads, null);
    assert.deepEqual(inv.disks, []);
    assert.ok(inv.memory.totalBytes !== null && inv.memory.totalBytes > 0, '/proc/meminfo needs no tool');
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('a hanging tool is cut off by its time limit, broken output costs only its own field', async () => {
  const bin = tempBin({
    lscpu: 'exec sleep 30',
    lsblk: "echo '{\"blockdevices\": [ {broken'",
    lspci: 'echo "this is not lspci output"',
  });
  try {
    const started = Date.now();
    const inv = await collectInventory({ env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` }, timeoutMs: 2_000 });
    const took = Date.now() - started;
    assert.ok(took < 10_000, `collector returned in ${took} ms`);
    assert.deepEqual(inv.unknown.find((u) => u.source === 'lscpu -J'), { source: 'lscpu -J', reason: 'timed out after 2000 ms' });
    assert.match(inv.unknown.find((u) => u.source.startsWith('lsblk'))?.reason ?? '', /^unreadable output/);
    assert.deepEqual(inv.raidControllers, []);
    assert.equal(inv.cpu.threads, null);
    assert.ok(inv.nics.length >= 1, `the other tools still answered: ${JSON.stringify(inv.unknown)}`);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test("the caller's AbortSignal stops the collection", async () => {
  const bin = tempBin({ lscpu: 'exec sleep 30' });
  try {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const started = Date.now();
    await assert.rejects(collectInventory({ env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` }, signal: ac.signal, timeoutMs: 20_000 }), { name: 'AbortError' });
    assert.ok(Date.now() - started < 5_000);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});
