// Opening the store the CLI, seed and agent talk to: `--etcd URL[,URL…]` plus optional TLS
// files and user/password. Reading the files and a first round trip happen here, so a wrong
// address or credential fails at start with E_UNAVAILABLE naming the endpoints.
import { readFile } from 'node:fs/promises';
import { LpmosError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store/store.ts';
import { EtcdStore } from './etcd.ts';

export interface StoreTlsFiles {
  /** CA bundle that signed the etcd server certificates. */
  caFile?: string;
  /** Client certificate and key, when etcd runs with --client-cert-auth. */
  certFile?: string;
  keyFile?: string;
}

export interface OpenStoreOptions {
  endpoints: string[];
  tls?: StoreTlsFiles;
  auth?: { username: string; password: string };
  /** Per-call deadline in ms (default 5000). */
  timeoutMs?: number;
  /** Keys per page of a listing (default 1000; a page too large for gRPC is halved and retried). */
  pageSize?: number;
  logger?: Logger;
  /** Skip the first round trip (default: check that the cluster answers, fail fast if not). */
  lazy?: boolean;
  signal?: AbortSignal;
}

/** Parses the value of `--etcd`: comma-separated http(s) URLs with host and port. */
export function parseEtcdEndpoints(value: string, flag = '--etcd'): string[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new LpmosError('E_USAGE', `${flag} needs at least one URL, like http://127.0.0.1:2379`);
  const out: string[] = [];
  for (const part of parts) {
    let url: URL;
    try {
      url = new URL(part);
    } catch {
      throw new LpmosError('E_USAGE', `${flag}: "${part}" is not a URL (expected http://host:port or https://host:port)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new LpmosError('E_USAGE', `${flag}: "${part}" must use http:// or https://, not ${url.protocol}//`);
    }
    if (url.hostname === '') throw new LpmosError('E_USAGE', `${flag}: "${part}" has no host`);
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
      throw new LpmosError('E_USAGE', `${flag}: "${part}" must be only scheme, host and port (no path, query or credentials)`);
    }
    const port = url.port === '' ? 2379 : Number(url.port);
    out.push(`${url.protocol}//${url.hostname}:${port}`);
  }
  const schemes = new Set(out.map((u) => u.split(':')[0]));
  if (schemes.size > 1) throw new LpmosError('E_USAGE', `${flag}: mixes http and https URLs (${out.join(', ')}); use one scheme for all`);
  return out;
}

async function readPem(path: string | undefined, what: string): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (e) {
    throw new LpmosError('E_USAGE', `cannot read etcd TLS ${what} ${path}: ${(e as Error).message}`, { cause: e });
  }
}

export async function openStore(options: OpenStoreOptions): Promise<Store> {
  if (options.endpoints.length === 0) throw new LpmosError('E_USAGE', 'no etcd endpoints given');
  const tls = options.tls;
  if (tls && (tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new LpmosError('E_USAGE', 'etcd TLS client certificate and key must be given together');
  }
  const [ca, cert, key] = await Promise.all([
    readPem(tls?.caFile, 'CA file'), readPem(tls?.certFile, 'certificate'), readPem(tls?.keyFile, 'key'),
  ]);
  const store = new EtcdStore({
    endpoints: options.endpoints,
    ...(ca || cert ? { tls: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) } } : {}),
    ...(options.auth ? { auth: options.auth } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  if (!options.lazy) {
    try {
      await store.revision(options.signal ? { signal: options.signal } : undefined);
    } catch (e) {
      await store.close();
      throw e;
    }
  }
  return store;
}
