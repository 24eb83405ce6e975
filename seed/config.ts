// `lpmos seed` settings: flags, LPMOS_* variables and `--config FILE` (core/config.ts). Each later
// component (DHCP, TFTP, HTTP) adds its settings here.
import { z } from 'zod';
import { DEFAULT_PREFIX, DEFAULT_SITE } from '../core/keys.ts';
import { nameSchema } from '../core/model/common.ts';
import { defaultStateDir } from './state-dir.ts';
import { dhcpSeedSettings } from './dhcp/config.ts';

export const seedConfigSchema = z.object({
  stateDir: z.string().min(1).default(defaultStateDir()),
  /** Existing etcd cluster; without it the seed runs its own. */
  etcd: z.string().optional(),
  etcdCa: z.string().optional(),
  etcdCert: z.string().optional(),
  etcdKey: z.string().optional(),
  etcdUser: z.string().optional(),
  etcdPassword: z.string().optional(),
  etcdBinary: z.string().default('/usr/bin/etcd'),
  site: nameSchema.default(DEFAULT_SITE),
  /** TFTP (seed/tftp): served when --tftp-root is given, bound to --tftp-address (default --address, the provisioning address). */
  tftpRoot: z.string().min(1).optional(),
  tftpAddress: z.ipv4({ message: 'must be an IPv4 address (the provisioning address)' }).optional(),
  tftpPort: z.coerce.number().int().min(0).max(65535).default(69),
  tftpMaxTransfers: z.coerce.number().int().min(1).max(10000).default(256),
  /** Lock-step transfer running alone: µs the TFTP worker waits awake for each ACK before sleeping (0: never). */
  tftpSpinUs: z.coerce.number().int().min(0).max(10_000).default(1000),
  prefix: z.string().regex(/^\/[A-Za-z0-9._/-]*$/, 'must start with "/" and hold only letters, digits, ".", "_", "-", "/"').default(DEFAULT_PREFIX),
  // HTTP (seed/http/config.ts checks the values): started when a port or an artifact dir is given.
  httpPort: z.coerce.number().int().min(0).max(65535).optional(),
  httpAddress: z.string().optional(),
  httpArtifacts: z.string().optional(),
  httpPublicUrl: z.string().optional(),
  /** Kernel console and extra kernel parameters for the agent's boot scripts (seed/http/config.ts checks them). */
  httpConsole: z.string().optional(),
  httpCmdline: z.string().optional(),
  /**
   * libp2p bootstrap addresses given to agents. Default: the seed's own swarm (`--swarm on` with
   * --address), with /p2p/<peer id>; an explicit value wins.
   */
  swarmBootstrap: z.string().optional(),
  /** The seed's swarm node (swarm/seed-swarm.ts): progress gossip now, blobs later. Runs when --address is given, unless off. */
  swarm: z.enum(['on', 'off'], { message: 'must be on or off' }).default('on'),
  /** TCP port of the swarm node on --address (0: any free port). */
  swarmPort: z.coerce.number().int().min(0).max(65535).default(4001),
  /** Boot-storm offload (seed/offload.ts): the agent kernel and ramdisk from agents that hold them (needs the swarm). */
  bootOffload: z.enum(['on', 'off'], { message: 'must be on or off' }).default('on'),
  /** Package mirror under /mirror/ (seed/mirror/setting.ts): auto (the host's apt sources), off, URL or name=URL,… */
  mirror: z.string().min(1).default('auto'),
  /** Where the mirror keeps its cache; default <state-dir>/mirror (a lab or CI keeps it across runs). */
  mirrorDir: z.string().min(1).optional(),
  /** Where root images built from the mirror are kept (seed/rootfs/builds.ts); default <state-dir>/rootfs. */
  rootfsDir: z.string().min(1).optional(),
  mirrorIndexMaxAge: z.coerce.number().int().min(0).default(300),
  agentEtcd: z.string().optional(),
  /**
   * Agents reach the managed etcd through the seed (issue 5): with --address it also listens on
   * http://<address>:<this port> and agents are given that URL (unless --agent-etcd). 0: loopback only.
   */
  etcdAgentPort: z.coerce.number().int().min(0).max(65535).default(2379),
  // DHCP (seed/dhcp/config.ts): --dhcp full|proxy|off, --interface, --address, --dhcp-range, ...
  ...dhcpSeedSettings,
});

export type SeedConfig = z.infer<typeof seedConfigSchema>;
