// Files of the installed system, rendered by pure functions (golden tests in
// test/fixtures/installers/): fstab, hosts, hostname, apt sources, ifupdown interfaces, netplan,
// sudoers, GRUB defaults, the first-boot report (unit + script).
import type { Profile } from '../../core/model/profile.ts';
import type { ResolvedFs } from '../plan/layout.ts';

const header = (what: string): string => `# ${what} — written by LPMOS at install time\n`;

/**
 * fstab(5) by UUID (devices are renamed between boots; UUIDs are not). Root is checked first
 * (pass 1), other filesystems after (pass 2); swap, vfat-less-critical ones as fsck allows.
 */
export function renderFstab(fss: ResolvedFs[], uuids: Record<string, string>): string {
  const rows = fss.map((f) => {
    const uuid = uuids[f.device];
    if (!uuid) throw new Error(`no UUID known for ${f.device} (${f.type}): was it formatted?`);
    const dir = f.type === 'swap' ? 'none' : (f.mount ?? 'none');
    const defaults = f.type === 'swap' ? 'sw' : f.mount === '/' && f.type === 'ext4' ? 'errors=remount-ro' : f.type === 'vfat' ? 'umask=0077' : 'defaults';
    const pass = f.type === 'swap' || f.type === 'xfs' || f.type === 'btrfs' ? 0 : f.mount === '/' ? 1 : 2;
    return [`UUID=${uuid}`, dir, f.type, f.options ?? defaults, '0', String(pass)];
  });
  const order = (r: string[]): number => (r[1] === 'none' ? 1000 : (r[1] ?? '').split('/').filter(Boolean).length);
  rows.sort((a, b) => order(a) - order(b));
  return `${header('/etc/fstab')}# <file system> <mount point> <type> <options> <dump> <pass>\n${rows.map((r) => r.join('\t')).join('\n')}\n`;
}

export function renderHostname(hostname: string): string {
  return `${hostname.split('.')[0]}\n`;
}

export function renderHosts(hostname: string, domain: string | undefined): string {
  const short = hostname.split('.')[0] ?? hostname;
  const fqdn = domain ? `${short}.${domain}` : hostname.includes('.') ? hostname : undefined;
  // 127.0.1.1 for the host's own name: the Debian convention when there is no fixed address (hosts(5)).
  return `127.0.0.1\tlocalhost\n127.0.1.1\t${fqdn ? `${fqdn}\t` : ''}${short}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`;
}

/** sources.list for Debian (main + updates + security) or Ubuntu (updates + security pockets). */
export function renderSources(os: Profile['os'], mirror: string, codename: string): string {
  const m = mirror.replace(/\/+$/, '');
  if (os.name === 'ubuntu') {
    return `${header('/etc/apt/sources.list')}deb ${m} ${codename} main restricted universe\ndeb ${m} ${codename}-updates main restricted universe\ndeb ${m} ${codename}-security main restricted universe\n`;
  }
  const components = 'main non-free-firmware';
  // Security updates live in a separate archive; a mirror laid out like deb.debian.org (and the
  // seed's pull-through mirror) has it beside the main one. Air-gapped sites have only the mirror.
  const security = /\/debian$/.test(m) ? `deb ${m}-security ${codename}-security ${components}\n` : '';
  return `${header('/etc/apt/sources.list')}deb ${m} ${codename} ${components}\ndeb ${m} ${codename}-updates ${components}\n${security}`;
}

type Iface = Profile['network']['interfaces'][number];
/** The name an interface gets in the installed system, and the MAC that names it when known. */
export interface NicName { name: string; mac?: string }

/**
 * Names for the profile's interfaces. A NIC known by MAC (the boot NIC, or `match.mac`) is named
 * `lan<n>` by a systemd .link file, since the agent's kernel may name it differently than the
 * installed system's udev will (predictable names need udev; the ramdisk may have none).
 */
export function nicNames(ifaces: Iface[], boot: { name?: string; mac?: string } | undefined): NicName[] {
  return ifaces.map((i, n) => {
    const mac = i.match === 'boot' ? boot?.mac : i.match.mac;
    if (mac) return { name: `lan${n}`, mac };
    const name = i.match === 'boot' ? boot?.name : i.match.name;
    return { name: name ?? 'eth0' };
  });
}

/** systemd.link(5) files that give MAC-matched NICs their names (read by udev, also in the initramfs). */
export function renderLinkFile(nic: NicName): string {
  return `# written by LPMOS\n[Match]\nMACAddress=${nic.mac ?? ''}\n\n[Link]\nName=${nic.name}\n`;
}

/** /etc/network/interfaces (interfaces(5)) for ifupdown. */
export function renderInterfaces(ifaces: Iface[], nics: NicName[]): string {
  const out = [header('/etc/network/interfaces'), 'source /etc/network/interfaces.d/*\n', 'auto lo\niface lo inet loopback\n'];
  ifaces.forEach((i, n) => {
    const name = nics[n]?.name ?? `eth${n}`;
    const lines = [`allow-hotplug ${name}`];
    if (i.dhcp) lines.push(`iface ${name} inet dhcp`);
    i.addresses.forEach((a, k) => {
      lines.push(`iface ${name} inet static`, `\taddress ${a}`);
      if (k === 0 && i.gateway) lines.push(`\tgateway ${i.gateway}`);
      if (k === 0 && i.dns.length) lines.push(`\tdns-nameservers ${i.dns.join(' ')}`);
    });
    if (i.mtu) lines.push(`\tmtu ${i.mtu}`);
    out.push(`${lines.join('\n')}\n`);
  });
  return out.join('\n');
}

/** Netplan (v2) for Ubuntu profiles; interfaces are matched by MAC when the profile gives one. */
export function renderNetplan(ifaces: Iface[], nics: NicName[]): string {
  const lines = ['# written by LPMOS at install time', 'network:', '  version: 2', '  renderer: networkd', '  ethernets:'];
  ifaces.forEach((i, n) => {
    const nic = nics[n] ?? { name: `eth${n}` };
    lines.push(`    ${nic.name}:`);
    if (nic.mac) lines.push('      match:', `        macaddress: "${nic.mac}"`, `      set-name: ${nic.name}`);
    lines.push(`      dhcp4: ${i.dhcp ? 'true' : 'false'}`);
    if (i.addresses.length) lines.push('      addresses:', ...i.addresses.map((a) => `        - ${a}`));
    if (i.gateway) lines.push('      routes:', '        - to: default', `          via: ${i.gateway}`);
    if (i.dns.length) lines.push('      nameservers:', '        addresses:', ...i.dns.map((d) => `          - ${d}`));
    if (i.mtu) lines.push(`      mtu: ${i.mtu}`);
  });
  return `${lines.join('\n')}\n`;
}

export function renderSudoers(user: string): string {
  return `# written by LPMOS: the profile gives ${user} sudo\n${user} ALL=(ALL:ALL) NOPASSWD: ALL\n`;
}

/** GRUB defaults of the installed system (grub.d fragment, so /etc/default/grub stays the package's). */
export function renderGrubDefaults(cmdline: string | undefined): string {
  return `# written by LPMOS\nGRUB_TIMEOUT=1\nGRUB_CMDLINE_LINUX_DEFAULT="${(cmdline ?? '').replace(/"/g, '\\"')}"\nGRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200"\nGRUB_TERMINAL="console serial"\n`;
}

export const FIRSTBOOT_SCRIPT = '/usr/local/sbin/lpmos-firstboot';
export const FIRSTBOOT_DONE = '/var/lib/lpmos/firstboot.done';

/** The first-boot unit: runs once, after the network is up, until the seed has the report. */
export function renderFirstbootUnit(): string {
  return `# written by LPMOS: tells the seed that the installed system booted
[Unit]
Description=LPMOS first-boot report
Wants=network-online.target
After=network-online.target
ConditionPathExists=!${FIRSTBOOT_DONE}

[Service]
Type=oneshot
ExecStart=${FIRSTBOOT_SCRIPT}
StandardOutput=journal+console
RemainAfterExit=yes
TimeoutStartSec=15min

[Install]
WantedBy=multi-user.target
`;
}

/**
 * The report itself, in bash alone (minbase has no curl or wget): HTTP/1.0 POST over /dev/tcp,
 * retried until the seed answers 2xx, then never again.
 */
export function renderFirstbootScript(seedUrl: string, machine: string): string {
  const u = new URL(seedUrl);
  if (u.protocol !== 'http:') throw new Error(`the first-boot report speaks plain HTTP to the seed, not ${u.protocol}`);
  const port = u.port || '80';
  const base = u.pathname.replace(/\/+$/, '');
  const path = `${base}/api/v1/firstboot?machine=${encodeURIComponent(machine)}`;
  return `#!/bin/bash
# written by LPMOS: POST ${u.host}${path} once the installed system is up
set -u
host='${u.hostname}' port='${port}' path='${path}'
# What booted, on the console too (the lab reads it on the serial port): kernel, root, RAID health.
echo "lpmos: first boot of $(hostname) on $(uname -r), root on $(findmnt -no SOURCE / 2>/dev/null || echo '?')"
[ -r /proc/mdstat ] && grep -q '^md' /proc/mdstat && sed 's/^/lpmos: mdstat: /' /proc/mdstat
for try in $(seq 1 180); do
  if exec 3<>"/dev/tcp/$host/$port"; then
    printf 'POST %s HTTP/1.0\\r\\nHost: %s:%s\\r\\nContent-Type: application/json\\r\\nContent-Length: 2\\r\\n\\r\\n{}' "$path" "$host" "$port" >&3
    read -r -t 30 proto status rest <&3 || status=0
    exec 3>&-
    case "$status" in
      2??) mkdir -p "$(dirname ${FIRSTBOOT_DONE})" && date -u +%FT%TZ > ${FIRSTBOOT_DONE}; echo "lpmos: first-boot report accepted"; exit 0 ;;
    esac
    echo "lpmos: seed answered \${status:-nothing} (try $try)" >&2
  fi
  sleep 5
done
exit 1
`;
}
