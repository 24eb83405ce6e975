// Configuration of the seed's HTTP server (DESIGN §5.7: one typed schema, flags name the field).
// Flags: --http-address, --http-port, --http-artifacts DIR[,DIR], --http-public-url, --http-console,
// --http-cmdline, --swarm-bootstrap, --agent-etcd. The agent's artifact names (agentKernel, agentInitrd,
// agentStage0) have no flag: they are the names `lpmos boot ramdisk` writes.
import { z } from 'zod';
import { STAGE0_FILE } from '../../core/stage0.ts';

const list = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s.length > 0));

/** One kernel-command-line fragment: printable, no line break (a newline would inject iPXE/GRUB commands). */
const cmdlineText = z.string().regex(/^[\x20-\x7e]*$/, 'must be printable ASCII on one line');

export const httpConfigSchema = z.strictObject({
  /** The provisioning address to bind to; `0.0.0.0` binds every interface of the host. */
  address: z.union([z.ipv4(), z.ipv6()], { message: '--http-address must be an IP address' }).default('0.0.0.0'),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Directories holding artifacts and their manifest.json (boot assets, agent ramdisk). */
  artifacts: list.default([]),
  /**
   * The seed as machines reach it, e.g. `http://10.213.16.1:8080`. Default: the bound address and
   * port, or the request's Host header when bound to every interface.
   */
  publicUrl: z.url({ protocol: /^https?$/, message: '--http-public-url must be an http:// URL' }).optional(),
  /** Artifact names of the agent's kernel and ramdisk. */
  agentKernel: z.string().min(1).default('vmlinuz'),
  agentInitrd: z.string().min(1).default('initrd.img'),
  /**
   * Artifact name of the ramdisk's stage 0 (boot/ramdisk/stage0.ts). When the ramdisk's directory holds
   * it and boot offload is on, iPXE on BIOS boots through it and the agent keeps the ramdisk it booted
   * from (no second download); otherwise every loader gets the ramdisk as the kernel's initramfs.
   */
  agentStage0: z.string().min(1).default(STAGE0_FILE),
  /** Kernel console arguments for the agent (serial first for the lab's QEMU, VGA for people at the rack). */
  console: cmdlineText.default('console=tty0 console=ttyS0,115200n8'),
  /** Extra kernel arguments for every machine. */
  cmdline: cmdlineText.default(''),
  /** libp2p bootstrap multiaddrs (comma-separated) given to agents: a config value until the swarm is built. */
  swarmBootstrap: cmdlineText.optional(),
  /** etcd endpoints as agents reach them; default: the seed's own endpoints. */
  agentEtcd: list.optional(),
  /** Headers must arrive within this time (slowloris guard); bodies are not accepted at all. */
  headersTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(10_000),
});

export type HttpConfig = z.infer<typeof httpConfigSchema>;
export type HttpConfigInput = z.input<typeof httpConfigSchema>;

/** The flag that sets a field, for error messages: `port` → `--http-port`, `agentEtcd` → `--agent-etcd`. */
export function httpFlag(key: string): string {
  const kebab = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return key === 'swarmBootstrap' || key === 'agentEtcd' ? `--${kebab}` : `--http-${kebab}`;
}
