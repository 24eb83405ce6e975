// `lpmos seed`: runs the seed until SIGINT/SIGTERM.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { resolveConfig } from '../../core/config.ts';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import { seedConfigSchema, type SeedConfig } from '../../seed/config.ts';
import type { Seed } from '../../seed/seed.ts';

async function readConfigFile(path: string | undefined): Promise<{ path: string; values: Record<string, unknown> } | undefined> {
  if (!path) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new LpmosError(ErrorCode.Usage, `--config ${path}: ${(e as Error).message}`);
  }
  let values: unknown;
  try {
    values = parse(text);
  } catch (e) {
    throw new LpmosError(ErrorCode.Parse, `--config ${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (values === null || values === undefined) return { path, values: {} };
  if (typeof values !== 'object' || Array.isArray(values)) throw new LpmosError(ErrorCode.Usage, `--config ${path}: expected a mapping of settings`);
  return { path, values: values as Record<string, unknown> };
}

/** Only the values the user typed: defaults come from the schema, after file and environment. */
function typedFlags(cmd: Command): Record<string, unknown> {
  const opts = cmd.optsWithGlobals();
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) {
    const source = cmd.getOptionValueSourceWithGlobals(k);
    if (source === 'cli') out[k] = v;
  }
  return out;
}

/** What an operator types next, printed once the seed is up. */
function usageHint(config: SeedConfig): string {
  const sd = `--state-dir ${config.stateDir}`;
  return [
    'seed is up. From another shell:',
    `  npx lpmos ${sd} profile apply -f examples/profile-debian12-minimal.yaml`,
    `  npx lpmos ${sd} apply -f examples/machines.yaml`,
    `  npx lpmos ${sd} machine list`,
    `  npx lpmos ${sd} machine list -o json`,
    'Stop it with Ctrl-C.',
  ].join('\n');
}

export async function runSeed(cmd: Command, onReady?: (seed: Seed) => Promise<void>): Promise<void> {
  const flags = typedFlags(cmd);
  const config = resolveConfig(seedConfigSchema, { flags, env: process.env, file: await readConfigFile(flags.config as string | undefined) });
  const log = createLogger({ name: 'seed' });
  const { Seed } = await import('../../seed/seed.ts');
  const seed = new Seed(config, { logger: log });
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    log.info({ signal: sig }, 'stopping');
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await seed.start(stop.signal);
    if (onReady) await onReady(seed);
    if (process.stderr.isTTY) process.stderr.write(`${usageHint(config)}\n`);
    await new Promise<void>((resolve) => (stop.signal.aborted ? resolve() : stop.signal.addEventListener('abort', () => resolve(), { once: true })));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await seed.stop();
    log.info('seed stopped');
  }
}

export function registerSeedCommand(program: Command): void {
  program
    .command('seed')
    .description('run the seed: a private etcd (or --etcd for an existing cluster), DHCP, TFTP, HTTP (boot scripts, artifacts, apt mirror, first-boot reports) and the swarm node')
    .option('--config <file>', 'YAML file with settings named as the flags (state-dir: /srv/lpmos, site: dc1, …)')
    .option('--etcd-binary <path>', 'etcd binary for the managed etcd (default /usr/bin/etcd)')
    .option('--http-port <port>', 'serve boot scripts and artifacts over HTTP on this port (default 8080 when --http-artifacts is given)')
    .option('--http-address <ip>', 'address the HTTP server binds to (default 0.0.0.0)')
    .option('--http-artifacts <dirs>', 'comma-separated directories with a manifest.json (lpmos boot assets / boot ramdisk output)')
    .option('--http-public-url <url>', 'the seed as machines reach it, e.g. http://10.0.0.1:8080 (default: the address they connected to)')
    .option('--http-console <params>', 'console= parameters for the agent kernel (default "console=tty0 console=ttyS0,115200n8")')
    .option('--http-cmdline <params>', 'more kernel parameters for the agent, e.g. "lpmos.shell=ttyS1" (a root shell on the second serial port)')
    .option('--mirror <upstreams>', 'package mirror served under /mirror/: auto (the host\'s apt sources, default), off (cache only: air gap), URL or name=URL,…')
    .option('--mirror-dir <dir>', 'where the mirror keeps its cache (default <state-dir>/mirror; keep it across runs, e.g. ~/.cache/lpmos/mirror)')
    .option('--rootfs-dir <dir>', 'where root images built from the mirror are kept, one per package set (default <state-dir>/rootfs; keep it across runs)')
    .option('--mirror-index-max-age <seconds>', 'serve cached index files this long before asking the upstream again (default 300)')
    .option('--swarm <on|off>', 'the seed\'s swarm node on --address (progress gossip from agents into etcd); default on when --address is given')
    .option('--swarm-port <port>', 'TCP port of the swarm node on --address (default 4001)')
    .option('--boot-offload <on|off>', 'redirect requests for the agent kernel and ramdisk to agents that hold them (default on; needs the swarm)')
    .option('--swarm-bootstrap <multiaddrs>', 'libp2p bootstrap addresses given to agents on their kernel command line (default: the seed\'s own swarm addresses with /p2p/<peer id>)')
    .option('--agent-etcd <urls>', "etcd endpoints given to agents (default: the managed etcd on --address, see --etcd-agent-port)")
    .option('--etcd-agent-port <port>', 'with --address, agents reach etcd at http://ADDRESS:PORT: the managed etcd listens there too, or with --etcd an etcd gRPC proxy run by the seed (default 2379; 0: off)')
    .option('--tftp-root <dir>', 'serve this directory (boot loaders) read-only over TFTP')
    .option('--tftp-address <ip>', 'provisioning address the TFTP server binds to (default --address)')
    .option('--tftp-port <n>', 'TFTP port (default 69)')
    .option('--tftp-max-transfers <n>', 'concurrent TFTP transfers; past it clients get "server busy" (default 256)')
    .option('--tftp-spin-us <n>', 'a lock-step TFTP transfer running alone may wait awake up to this many µs for each ACK (it measures awake against asleep and keeps the faster; awake costs a CPU core while it runs) (default 1000; 0: always asleep)')
    .option('--dhcp <mode>', 'DHCP for PXE: full (addresses and leases), proxy (boot info beside another DHCP server), off (default)')
    .option('--interface <if>', 'provisioning interface: DHCP answers here only (without it DHCP stays off)')
    .option('--address <ip>', "the seed's address on the provisioning network (DHCP server id, next-server, boot URLs)")
    .option('--dhcp-range <start-end>', 'address pool START-END[/PREFIX][,router=IP][,dns=IP+IP][,domain=NAME][,lease=S]; repeat for relayed subnets', (v: string, prev: string[] = []) => [...prev, v])
    .option('--dhcp-lease-time <seconds>', 'lease time (default 3600)')
    .option('--dhcp-router <ip>', 'default router (option 3) for ranges without router=')
    .option('--dhcp-dns <ips>', 'DNS servers (option 6), comma-separated')
    .option('--dhcp-domain <name>', 'domain name (option 15)')
    .option('--dhcp-known-only', 'answer only machines known in etcd (default: enroll unknown PXE clients as discovered)')
    .option('--dhcp-uefi-loader <file>', 'UEFI x64 loader: ipxe.efi (default) or snponly.efi')
    .addHelpText('after', '\nSettings: flags > LPMOS_* environment variables (LPMOS_STATE_DIR, LPMOS_SITE, …) > --config file > defaults.\nWithout --etcd the seed runs its own etcd with data under <state-dir>/etcd and stops it on exit.')
    .action(async (_opts: unknown, cmd: Command) => runSeed(cmd));
}
