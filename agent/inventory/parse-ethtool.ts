// ethtool(8) text output: `ethtool -i <if>` (driver information) and `ethtool <if>` (link settings).
import { keyValueLines, toCount } from './text.ts';

export interface EthtoolDriver {
  driver: string | null;
  version: string | null;
  firmware: string | null;
  /** `0000:63:00.0` for PCI devices; empty for virtual links. */
  busInfo: string | null;
}

export function parseEthtoolDriver(text: string): EthtoolDriver {
  const f = keyValueLines(text);
  const v = (k: string): string | null => {
    const x = f.get(k);
    // bridges and other software links print "N/A"
    return x === undefined || x === '' || x === 'N/A' ? null : x;
  };
  return { driver: v('driver'), version: v('version'), firmware: v('firmware-version'), busInfo: v('bus-info') };
}

export interface EthtoolLink {
  /** Negotiated speed; null when the driver reports "Unknown!" (no link, virtual NICs). */
  speedMbps: number | null;
  duplex: 'full' | 'half' | null;
  /** "Link detected": the carrier as the driver sees it. */
  linkDetected: boolean | null;
}

export function parseEthtoolLink(text: string): EthtoolLink {
  const f = keyValueLines(text);
  const speed = /^(\d+)\s*Mb\/s/i.exec(f.get('Speed') ?? '');
  const duplex = (f.get('Duplex') ?? '').toLowerCase();
  const link = (f.get('Link detected') ?? '').toLowerCase();
  return {
    speedMbps: speed ? toCount(speed[1]) : null,
    duplex: duplex.startsWith('full') ? 'full' : duplex.startsWith('half') ? 'half' : null,
    // "no (Cable issue, Unsupported cable)" on some mlx5 ports
    linkDetected: link.startsWith('yes') ? true : link.startsWith('no') ? false : null,
  };
}
