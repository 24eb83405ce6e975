// The I/O edge of the inventory: runs the tools and reads the kernel files, hands the text to the
// pure parsers, and assembles the validated document. Every tool runs with a time limit and
// under the caller's AbortSignal; a missing or failing source is recorded in `unknown`.
import { existsSync } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Cpu, Disk, Dmi, Inventory, Nic, UnknownSource } from '../../core/model/inventory.ts';
import { assembleInventory } from './assemble.ts';
import { assembleNics, isEthernet } from './nics.ts';
import { parseBonding, type BondInfo } from './parse-bonding.ts';
import { parseDetectVirt } from './parse-detect-virt.ts';
import { parseDmidecode, type DmiInfo } from './parse-dmidecode.ts';
import { parseEthtoolDriver, parseEthtoolLink, type EthtoolDriver, type EthtoolLink } from './parse-ethtool.ts';
import { parseIpLink, type IpLink } from './parse-ip-link.ts';
import { byPathMap, LSBLK_COLUMNS, parseLsblk } from './parse-lsblk.ts';
import { parseLscpu } from './parse-lscpu.ts';
import { parseLspci, type PciDevice } from './parse-lspci.ts';
import { parseMeminfo } from './parse-meminfo.ts';
import { parseSysfsDmi, SYSFS_DMI_FILES, type SysfsDmiFiles } from './parse-sysfs-dmi.ts';
import { runTool, type ToolResult } from './run.ts';
import { clean } from './text.ts';
import { chooseVirt, virtFromDmi, virtFromLscpu } from './virt-fallback.ts';

export interface CollectOptions {
  signal?: AbortSignal;
  /** Limit for each tool run (default 15 s: dmidecode on some BMCs and lspci on big machines are slow). */
  timeoutMs?: number;
  /** Environment for the tools; tests set PATH to control which tools exist. */
  env?: NodeJS.ProcessEnv;
  /** Roots of the kernel file systems, for tests on a copied tree. */
  procRoot?: string;
  sysRoot?: string;
  devRoot?: string;
  now?: () => Date;
}

interface Ctx {
  opts: CollectOptions;
  timeoutMs: number;
  unknown: UnknownSource[];
}

function note(ctx: Ctx, source: string, reason: string): void {
  ctx.unknown.push({ source, reason });
}

async function tool(ctx: Ctx, cmd: string, args: string[], okExitCodes: number[] = []): Promise<ToolResult> {
  // The parsers read English field names ("Socket(s):", "Speed:"): no translated output.
  const env = { ...(ctx.opts.env ?? process.env), LC_ALL: 'C', LANG: 'C' };
  return runTool(cmd, args, { timeoutMs: ctx.timeoutMs, okExitCodes, env, ...(ctx.opts.signal ? { signal: ctx.opts.signal } : {}) });
}

/** Runs a tool and parses its output; any failure, including a parser's, becomes an `unknown` entry. */
async function fromTool<T>(ctx: Ctx, cmd: string, args: string[], parse: (out: string) => T, okExitCodes: number[] = []): Promise<T | null> {
  const label = [cmd, ...args].join(' ');
  const r = await tool(ctx, cmd, args, okExitCodes);
  if (!r.ok) {
    note(ctx, label, r.reason);
    return null;
  }
  try {
    return parse(r.stdout);
  } catch (e) {
    note(ctx, label, `unreadable output: ${(e as Error).message}`);
    return null;
  }
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

async function cpu(ctx: Ctx): Promise<{ cpu: Cpu; virt: string | null } | null> {
  return fromTool(ctx, 'lscpu', ['-J'], (out) => ({ cpu: parseLscpu(out), virt: virtFromLscpu(out) }));
}

async function memTotal(ctx: Ctx, proc: string): Promise<number | null> {
  const path = join(proc, 'meminfo');
  const text = await readText(path);
  const v = text === null ? null : parseMeminfo(text);
  if (v === null) note(ctx, path, text === null ? 'not readable' : 'no MemTotal line');
  return v;
}

async function dmidecode(ctx: Ctx): Promise<DmiInfo | null> {
  const info = await fromTool(ctx, 'dmidecode', ['-t', '0,1,2,4,17'], parseDmidecode);
  if (info && !info.found) {
    note(ctx, 'dmidecode -t 0,1,2,4,17', 'no SMBIOS records in its output');
    return null;
  }
  return info;
}

async function sysfsDmi(ctx: Ctx, sys: string): Promise<Dmi | null> {
  const dir = join(sys, 'class', 'dmi', 'id');
  if (!existsSync(dir)) return null;
  const files: SysfsDmiFiles = {};
  await Promise.all(SYSFS_DMI_FILES.map(async (f) => {
    const t = await readText(join(dir, f));
    if (t !== null) files[f] = t;
  }));
  return parseSysfsDmi(files);
}

async function diskByPath(ctx: Ctx, dev: string): Promise<Map<string, string>> {
  const dir = join(dev, 'disk', 'by-path');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    note(ctx, dir, 'missing (udev has not named the disks)');
    return new Map();
  }
  const links = await Promise.all(names.map(async (link) => ({ link, target: await readlink(join(dir, link)).catch(() => '') })));
  return byPathMap(links.filter((l) => l.target !== ''));
}

/**
 * lsblk takes serials from the udev database; without udev (early ramdisk, containers) virtio-blk
 * and NVMe still publish them in sysfs (`serial`, `device/serial`).
 */
async function sysfsSerial(sys: string, name: string): Promise<string | null> {
  for (const f of [join(sys, 'block', name, 'serial'), join(sys, 'block', name, 'device', 'serial')]) {
    const v = clean(await readText(f));
    if (v !== null) return v;
  }
  return null;
}

async function disks(ctx: Ctx, dev: string, sys: string): Promise<Disk[] | null> {
  const byPath = await diskByPath(ctx, dev);
  const list = await fromTool(ctx, 'lsblk', ['-J', '-b', '-d', '-o', LSBLK_COLUMNS], (out) => parseLsblk(out, byPath));
  if (list === null) return null;
  return Promise.all(list.map(async (d) => (d.serial === null ? { ...d, serial: await sysfsSerial(sys, d.name) } : d)));
}

/** Driver and link facts from sysfs, for when ethtool is missing. */
async function sysfsNic(sys: string, name: string): Promise<{ driver: EthtoolDriver; link: EthtoolLink }> {
  const base = join(sys, 'class', 'net', name);
  const driverLink = await readlink(join(base, 'device', 'driver')).catch(() => null);
  const deviceLink = await readlink(join(base, 'device')).catch(() => null);
  const speed = Number((await readText(join(base, 'speed')))?.trim() ?? 'NaN');
  const carrier = (await readText(join(base, 'carrier')))?.trim();
  return {
    driver: { driver: driverLink ? basename(driverLink) : null, version: null, firmware: null, busInfo: deviceLink ? basename(deviceLink) : null },
    link: { speedMbps: Number.isSafeInteger(speed) && speed > 0 ? speed : null, duplex: null, linkDetected: carrier === '1' ? true : carrier === '0' ? false : null },
  };
}

async function bonds(proc: string): Promise<Map<string, BondInfo>> {
  const dir = join(proc, 'net', 'bonding');
  const out = new Map<string, BondInfo>();
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const n of names) {
    const t = await readText(join(dir, n));
    if (t !== null) out.set(n, parseBonding(t));
  }
  return out;
}

async function nics(ctx: Ctx, proc: string, sys: string): Promise<Nic[] | null> {
  const links = await fromTool<IpLink[]>(ctx, 'ip', ['-j', '-d', 'link', 'show'], parseIpLink);
  if (links === null) return null;
  const eth = links.filter(isEthernet);
  const drivers = new Map<string, EthtoolDriver>();
  const settings = new Map<string, EthtoolLink>();
  let ethtoolMissing = false;
  await Promise.all(eth.map(async (l) => {
    const [i, s] = await Promise.all([tool(ctx, 'ethtool', ['-i', l.name]), tool(ctx, 'ethtool', [l.name])]);
    if ((!i.ok && i.reason === 'not installed') || (!s.ok && s.reason === 'not installed')) ethtoolMissing = true;
    // Virtual links answer `ethtool -i` with an empty bus-info, bridges refuse it: not an error.
    if (i.ok) drivers.set(l.name, parseEthtoolDriver(i.stdout));
    if (s.ok) settings.set(l.name, parseEthtoolLink(s.stdout));
    if (!i.ok || !s.ok) {
      const fb = await sysfsNic(sys, l.name);
      if (!i.ok) drivers.set(l.name, fb.driver);
      if (!s.ok) settings.set(l.name, fb.link);
    }
  }));
  if (ethtoolMissing) note(ctx, 'ethtool', 'not installed; driver, speed and link read from /sys/class/net');
  return assembleNics({ links, drivers, settings, bonds: await bonds(proc) });
}

async function pci(ctx: Ctx): Promise<PciDevice[] | null> {
  return fromTool(ctx, 'lspci', ['-mm', '-nn', '-D'], parseLspci);
}

async function virt(ctx: Ctx, flag: '--vm' | '--container'): Promise<string | null> {
  return fromTool(ctx, 'systemd-detect-virt', [flag], (out) => {
    const v = parseDetectVirt(out);
    if (v === null) throw new Error(`no identifier in "${out.trim()}"`);
    return v;
  }, [1]);
}

/** Collects this machine's inventory. Never fails for a missing tool; see `unknown`. */
export async function collectInventory(opts: CollectOptions = {}): Promise<Inventory> {
  const ctx: Ctx = { opts, timeoutMs: opts.timeoutMs ?? 15_000, unknown: [] };
  const proc = opts.procRoot ?? '/proc';
  const sys = opts.sysRoot ?? '/sys';
  const dev = opts.devRoot ?? '/dev';
  const collectedAt = (opts.now ?? (() => new Date()))().toISOString();
  const [lscpu, mem, dmi, sdmi, diskList, nicList, pciList, vm, container] = await Promise.all([
    cpu(ctx), memTotal(ctx, proc), dmidecode(ctx), sysfsDmi(ctx, sys), disks(ctx, dev, sys), nics(ctx, proc, sys), pci(ctx),
    virt(ctx, '--vm'), virt(ctx, '--container'),
  ]);
  // Firmware-provided EFI runtime: the kernel creates /sys/firmware/efi only when booted by UEFI.
  const bootMode = existsSync(join(sys, 'firmware')) ? (existsSync(join(sys, 'firmware', 'efi')) ? 'uefi' : 'bios') : null;
  if (bootMode === null) note(ctx, join(sys, 'firmware'), 'missing');
  if (!dmi && !sdmi) note(ctx, join(sys, 'class', 'dmi', 'id'), 'missing');
  opts.signal?.throwIfAborted();
  const system = dmi?.found ? dmi.dmi.system : sdmi?.system;
  const virtualization = chooseVirt(vm, lscpu?.virt ?? null, virtFromDmi(system?.vendor ?? null, system?.product ?? null));
  return assembleInventory({
    collectedAt, lscpu: lscpu?.cpu ?? null, memTotalBytes: mem, dmidecode: dmi, sysfsDmi: sdmi, disks: diskList, nics: nicList, pci: pciList,
    virtualization, container, bootMode, unknown: ctx.unknown,
  });
}
