// fetchPackagesIndex against a real HTTP server on loopback: the index arrives gzip-streamed and
// parsed, checked against the Release's SHA256; a tampered index or a Release without it is refused
// with a clear error instead of resolving from bytes nobody vouched for.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isLpmosError } from '../../core/errors.ts';
import { fetchPackagesIndex } from '../../installers/debian/index-fetch.ts';
import { parsePackagesIndex } from '../../installers/debian/resolve.ts';

const text = readFileSync(join(import.meta.dirname, '../fixtures/installers/Packages-resolve.txt'), 'utf8');
const gz = gzipSync(text);
const release = (body: Uint8Array, name = 'main/binary-amd64/Packages.gz'): string =>
  `Suite: bookworm\nSHA256:\n ${createHash('sha256').update(body).digest('hex')} ${body.length} ${name}\n`;

describe('fetching a suite\'s Packages index', () => {
  const files = new Map<string, Uint8Array | string>();
  let server: Server;
  let mirror: string;
  before(async () => {
    server = createServer((req, res) => {
      const body = files.get(req.url ?? '');
      if (body === undefined) res.writeHead(404).end();
      else res.writeHead(200).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian`;
  });
  after(() => server.close());
  const src = () => ({ mirror, suite: 'bookworm', components: ['main'], arch: 'amd64' });

  it('streams, verifies and parses Packages.gz as the Release names it', async () => {
    files.set('/debian/dists/bookworm/Release', release(gz));
    files.set('/debian/dists/bookworm/main/binary-amd64/Packages.gz', gz);
    assert.deepEqual(await fetchPackagesIndex(src(), AbortSignal.timeout(10_000)), parsePackagesIndex(text));
  });

  it('refuses an index whose hash is not the Release\'s', async () => {
    const other = gzipSync(text.replace('Package: tool', 'Package: toot'));
    files.set('/debian/dists/bookworm/Release', release(gz));
    files.set('/debian/dists/bookworm/main/binary-amd64/Packages.gz', other);
    await assert.rejects(fetchPackagesIndex(src(), AbortSignal.timeout(10_000)), (e: unknown) => isLpmosError(e) && e.code === 'E_VALIDATION' && /Packages\.gz: sha256 [0-9a-f]{64}.*the Release says/.test(e.message));
  });

  it('names what is missing: no Packages.gz in the Release, no Release at all', async () => {
    files.set('/debian/dists/bookworm/Release', release(gz, 'main/binary-amd64/Packages.xz'));
    await assert.rejects(fetchPackagesIndex(src(), AbortSignal.timeout(10_000)), (e: unknown) => isLpmosError(e) && e.code === 'E_NOT_FOUND' && /lists no main\/binary-amd64\/Packages\.gz/.test(e.message));
    files.delete('/debian/dists/bookworm/Release');
    await assert.rejects(fetchPackagesIndex(src(), AbortSignal.timeout(10_000)), (e: unknown) => isLpmosError(e) && e.code === 'E_UNAVAILABLE' && /Release: HTTP 404/.test(e.message));
  });
});
