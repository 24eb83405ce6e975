// Helpers for the seed HTTP component tests: an artifact directory with its manifest made at test
// time, a server on a loopback port with a captured JSON access log, curl runs, raw requests.
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Keys } from '../../core/keys.ts';
import { createLogger } from '../../core/log.ts';
import type { Store } from '../../core/store/store.ts';
import type { HttpConfigInput } from '../../seed/http/config.ts';
import { startHttp, type HttpServer } from '../../seed/http/server.ts';

export interface ArtifactFile { name: string; data: Buffer; sha256: string }

export async function artifactDir(files: Record<string, number | Buffer>): Promise<{ dir: string; files: Map<string, ArtifactFile>; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `lpm-http-${process.pid}-`));
  const out = new Map<string, ArtifactFile>();
  for (const [name, spec] of Object.entries(files)) {
    const data = typeof spec === 'number' ? randomBytes(spec) : spec;
    await writeFile(join(dir, name), data);
    out.set(name, { name, data, sha256: createHash('sha256').update(data).digest('hex') });
  }
  await writeManifest(dir, [...out.values()]);
  return { dir, files: out, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function writeManifest(dir: string, files: ArtifactFile[]): Promise<void> {
  // The layout `lpmos boot assets` writes: { kind, files: [{ file, sha256, size, … }] }.
  const manifest = { kind: 'lpmos-boot-assets', files: files.map((f) => ({ file: f.name, sha256: f.sha256, size: f.data.length, package: 'test', version: '1' })) };
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
}

export interface TestServer {
  server: HttpServer;
  base: string;
  /** Parsed JSON log lines so far. */
  log: Array<Record<string, unknown>>;
  stop: () => Promise<void>;
}

export async function testServer(store: Store, config: Partial<HttpConfigInput>, opts: { site?: string; etcd?: string[] } = {}): Promise<TestServer> {
  const log: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) log.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger({ format: 'json', level: 'info', destination });
  const site = opts.site ?? 'default';
  const server = await startHttp({ address: '127.0.0.1', port: 0, ...config }, { logger, store, keys: new Keys('/lpmos/', site), site, prefix: '/lpmos/', etcdEndpoints: opts.etcd ?? ['http://127.0.0.1:2379'] });
  return { server, base: `http://127.0.0.1:${server.port}`, log, stop: () => server.stop() };
}

export function curl(args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['--silent', '--show-error', ...args], { encoding: 'buffer', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr: stderr.toString('utf8') });
    });
  });
}

/** Sends bytes as they are (what fetch and curl would refuse or fix) and returns the raw answer. */
export function rawRequest(port: number, text: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ host: '127.0.0.1', port }, () => s.end(text));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.on('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error('raw request timed out')));
  });
}
