// Which handler answers a path, and the route name used in metrics and the access log (a fixed
// set, so a scan of random URLs cannot grow the metrics without bound).
import type { Handler } from './context.ts';
import { artifacts } from './routes/artifacts.ts';
import { bootDeclined } from './routes/boot-declined.ts';
import { chain } from './routes/chain.ts';
import { firstboot } from './routes/firstboot.ts';
import { grub, matchGrub } from './routes/grub.ts';
import { healthz } from './routes/healthz.ts';
import { ipxe } from './routes/ipxe.ts';
import { metrics } from './routes/metrics.ts';
import { mirror } from './routes/mirror.ts';
import { matchPxelinux, pxelinux } from './routes/pxelinux.ts';
import { matchRootfsFile, rootfsBuild, rootfsFile } from './routes/rootfs.ts';

export interface Route {
  name: string;
  handler: Handler;
  /** Methods the route takes; default GET and HEAD. */
  methods?: readonly string[];
  /** API routes answer errors as JSON (`{"error":{…}}`) instead of plain text. */
  json?: boolean;
}

const EXACT: Record<string, Route> = {
  '/boot.ipxe': { name: 'boot_chain', handler: chain },
  '/boot/ipxe': { name: 'boot_ipxe', handler: ipxe },
  '/healthz': { name: 'healthz', handler: healthz },
  '/metrics': { name: 'metrics', handler: metrics },
  '/api/v1/firstboot': { name: 'api_firstboot', handler: firstboot, methods: ['POST'], json: true },
  '/api/v1/boot-files/declined': { name: 'api_boot_declined', handler: bootDeclined, methods: ['POST'], json: true },
  '/rootfs': { name: 'rootfs_build', handler: rootfsBuild, methods: ['POST'], json: true },
};

export function route(path: string): Route | undefined {
  const exact = EXACT[path];
  if (exact) return exact;
  if (path.startsWith('/artifacts/') && path.length > '/artifacts/'.length) return { name: 'artifacts', handler: artifacts };
  if (path.startsWith('/mirror/')) return { name: 'mirror', handler: mirror };
  if (matchRootfsFile(path)) return { name: 'rootfs', handler: rootfsFile };
  if (matchGrub(path)) return { name: 'boot_grub', handler: grub };
  if (matchPxelinux(path)) return { name: 'boot_pxelinux', handler: pxelinux };
  return undefined;
}
