// The edge of package resolution: fetches a suite's Packages indexes from a mirror (the agent's apt
// proxy, the seed's mirror or a profile's own), checks each against the hash the suite's Release
// gives, and parses it while it streams (gunzip) — Debian main is 50 MB of text, never held whole.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import { parseRelease } from '../../agent/apt-proxy-codec.ts';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { PackagesIndexParser, type PackageIndex } from './resolve.ts';

export interface IndexSource {
  /** Archive root: `http://127.0.0.1:3142/mirror/debian`. */
  mirror: string;
  suite: string;
  components: string[];
  arch: string;
}

async function get(url: string, signal: AbortSignal): Promise<Response> {
  const res = await fetch(url, { signal });
  if (!res.ok || !res.body) throw new LpmosError(ErrorCode.Unavailable, `GET ${url}: HTTP ${res.status}`);
  return res;
}

/** The Packages indexes of `components` for `arch`, merged into one index (by package name). */
export async function fetchPackagesIndex(src: IndexSource, signal: AbortSignal): Promise<PackageIndex> {
  const base = `${src.mirror.replace(/\/+$/, '')}/dists/${src.suite}`;
  const release = parseRelease(await (await get(`${base}/Release`, signal)).text());
  const parser = new PackagesIndexParser();
  for (const component of src.components) {
    const file = `${component}/binary-${src.arch}/Packages.gz`;
    const want = release.get(file);
    if (!want) throw new LpmosError(ErrorCode.NotFound, `${base}/Release lists no ${file}`);
    const res = await get(`${base}/${file}`, signal);
    const hash = createHash('sha256');
    let size = 0;
    const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>, { signal });
    body.on('data', (b: Buffer) => {
      hash.update(b);
      size += b.length;
    });
    const gunzip = createGunzip();
    gunzip.setEncoding('utf8');
    gunzip.on('data', (text: string) => parser.push(text));
    await pipeline(body, gunzip);
    const got = hash.digest('hex');
    if (got !== want.sha256 || size !== want.size) {
      throw new LpmosError(ErrorCode.Validation, `${base}/${file}: sha256 ${got} (${size} bytes), the Release says ${want.sha256} (${want.size} bytes)`);
    }
  }
  return parser.end();
}
