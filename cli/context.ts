// How a CLI command finds the store: `--etcd` (or LPMOS_ETCD) for an existing cluster, else the
// `seed.json` that a local seed writes into its state directory (`--state-dir` / LPMOS_STATE_DIR).
import { join } from 'node:path';
import type { Command } from 'commander';
import { ErrorCode, LpmosError } from '../core/errors.ts';
import { DEFAULT_PREFIX, DEFAULT_SITE, isValidName, Keys, NAME_RULE } from '../core/keys.ts';
import type { Store } from '../core/store/store.ts';
import { defaultStateDir, readSeedInfo } from '../seed/state-dir.ts';
import type { OpenStoreOptions } from '../store/connect.ts';

// The etcd client (gRPC) is loaded only by commands that talk to the store: `--help` stays fast.
const connect = () => import('../store/connect.ts');

export interface GlobalOptions {
  etcd?: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPassword?: string;
  stateDir?: string;
  site?: string;
  prefix?: string;
}

export function addGlobalOptions(program: Command): void {
  program
    .option('--etcd <urls>', 'etcd endpoints, comma-separated (env LPMOS_ETCD); default: the local seed\'s')
    .option('--etcd-ca <file>', 'CA certificate for etcd TLS (env LPMOS_ETCD_CA)')
    .option('--etcd-cert <file>', 'client certificate for etcd TLS (env LPMOS_ETCD_CERT)')
    .option('--etcd-key <file>', 'client key for etcd TLS (env LPMOS_ETCD_KEY)')
    .option('--etcd-user <name>', 'etcd user (env LPMOS_ETCD_USER)')
    .option('--etcd-password <password>', 'etcd password (env LPMOS_ETCD_PASSWORD)')
    .option('--state-dir <dir>', `seed state directory (env LPMOS_STATE_DIR; default ${defaultStateDir()})`)
    .option('--site <name>', `site name (env LPMOS_SITE; default ${DEFAULT_SITE})`)
    .option('--prefix <prefix>', `key prefix in etcd (env LPMOS_PREFIX; default ${DEFAULT_PREFIX})`);
}

export interface Context {
  store: Store;
  keys: Keys;
  /** The cluster's --max-txn-ops when known (the seed's managed etcd). */
  maxTxnOps?: number;
  close(): Promise<void>;
}

/** The etcd connection from flags or LPMOS_ETCD_* variables. */
export async function etcdOptionsFrom(o: GlobalOptions, endpointsText: string): Promise<OpenStoreOptions> {
  const { parseEtcdEndpoints } = await connect();
  const env = process.env;
  const caFile = o.etcdCa ?? env.LPMOS_ETCD_CA;
  const certFile = o.etcdCert ?? env.LPMOS_ETCD_CERT;
  const keyFile = o.etcdKey ?? env.LPMOS_ETCD_KEY;
  const username = o.etcdUser ?? env.LPMOS_ETCD_USER;
  const password = o.etcdPassword ?? env.LPMOS_ETCD_PASSWORD;
  if ((username === undefined) !== (password === undefined)) throw new LpmosError(ErrorCode.Usage, '--etcd-user and --etcd-password go together');
  return {
    endpoints: parseEtcdEndpoints(endpointsText, '--etcd'),
    ...(caFile || certFile || keyFile ? { tls: { ...(caFile ? { caFile } : {}), ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) } } : {}),
    ...(username !== undefined && password !== undefined ? { auth: { username, password } } : {}),
  };
}

export async function openContext(cmd: Command): Promise<Context> {
  const o = cmd.optsWithGlobals<GlobalOptions>();
  const env = process.env;
  let endpoints = o.etcd ?? env.LPMOS_ETCD;
  let site = o.site ?? env.LPMOS_SITE;
  let prefix = o.prefix ?? env.LPMOS_PREFIX;
  let maxTxnOps: number | undefined;
  if (!endpoints) {
    const dir = o.stateDir ?? env.LPMOS_STATE_DIR ?? defaultStateDir();
    const info = await readSeedInfo(dir);
    if (!info) {
      throw new LpmosError(ErrorCode.Unavailable, `no etcd given and no running seed found in ${join(dir, 'seed.json')}: start one with \`lpmos seed --state-dir ${dir}\`, or pass --etcd URL (or LPMOS_ETCD)`);
    }
    endpoints = info.etcd.endpoints.join(',');
    site ??= info.site;
    prefix ??= info.prefix;
    maxTxnOps = info.etcd.maxTxnOps;
  }
  if (site !== undefined && !isValidName(site)) throw new LpmosError(ErrorCode.Usage, `--site "${site}": a site name is ${NAME_RULE}`);
  if (prefix !== undefined && !/^\/[A-Za-z0-9._/-]*$/.test(prefix)) throw new LpmosError(ErrorCode.Usage, `--prefix "${prefix}": must start with "/" and hold only letters, digits, ".", "_", "-", "/"`);
  const { openStore } = await connect();
  // A CLI reads whole listings at once: big pages save round trips (30 → 3 for 10,000 machines).
  const store = await openStore({ ...(await etcdOptionsFrom(o, endpoints)), pageSize: 10_000 });
  return { store, keys: new Keys(prefix ?? DEFAULT_PREFIX, site ?? DEFAULT_SITE), ...(maxTxnOps ? { maxTxnOps } : {}), close: () => store.close() };
}

/** Runs fn with a context and always closes the store. */
export async function withContext<T>(cmd: Command, fn: (ctx: Context) => Promise<T>): Promise<T> {
  const ctx = await openContext(cmd);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}
