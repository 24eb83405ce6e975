// The apt proxy's pure parts: Release and Packages parsing, request classification, Range parsing,
// the metrics record; and the install spec's split into the installed system's mirror and the
// mirror/proxy used while installing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { classifyRequest, compressionOf, PackagesParser, parseRelease, type PackageFile } from '../../agent/apt-proxy-codec.ts';
import { PackageIndex } from '../../agent/apt-proxy-index.ts';
import { silentLogger } from '../../core/log.ts';
import { parseRange } from '../../agent/apt-proxy.ts';
import { decodeSwarmMetrics, metricsRecord } from '../../swarm/metrics-record.ts';
import { blobBudget } from '../../agent/main.ts';
import { debianSteps } from '../../installers/debian/steps.ts';
import { renderMachineSwarmMetrics, renderSeedBlobStats } from '../../seed/blobs-metrics.ts';
import { emptyStats } from '../../swarm/blobs/service.ts';
import { GiB, biosStorage, disk, layoutOf, profile, spec } from './install-fixture.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

const INRELEASE = `-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA512

Origin: Debian
Suite: stable
Codename: bookworm
MD5Sum:
 0123456789abcdef0123456789abcdef 50060337 main/binary-amd64/Packages
SHA256:
 ${A} 50060337 main/binary-amd64/Packages
 ${B} 12084798 main/binary-amd64/Packages.gz
 ${C}  8790396 main/binary-amd64/Packages.xz
-----BEGIN PGP SIGNATURE-----

 ${'d'.repeat(64)} 1 not/a/file
-----END PGP SIGNATURE-----
`;

describe('apt proxy codec', () => {
  it('reads the SHA256 field of a clearsigned InRelease, not the MD5 one nor the signature', () => {
    const r = parseRelease(INRELEASE);
    assert.deepEqual([...r.keys()], ['main/binary-amd64/Packages', 'main/binary-amd64/Packages.gz', 'main/binary-amd64/Packages.xz']);
    assert.deepEqual(r.get('main/binary-amd64/Packages.xz'), { sha256: C, size: 8790396 });
    assert.equal(r.get('main/binary-amd64/Packages')?.sha256, A);
  });

  it('parses Packages stanzas fed in arbitrary chunks; skips stanzas without a hash and unsafe paths', () => {
    const text = [
      'Package: bash', 'Version: 5.2', 'Description: the shell', ' continued: Filename: pool/evil.deb', 'Filename: pool/main/b/bash/bash_5.2_amd64.deb', 'Size: 1500000', `SHA256: ${A.toUpperCase()}`, '',
      'Package: nohash', 'Filename: pool/main/n/nohash.deb', 'Size: 10', '',
      'Package: evil', 'Filename: pool/../../etc/passwd', 'Size: 10', `SHA256: ${B}`, '',
      'Package: last', `SHA256: ${C}`, 'Size: 7', 'Filename: pool/main/l/last_1_all.deb',
    ].join('\r\n');
    for (const step of [1, 7, 1000]) {
      const got: PackageFile[] = [];
      const p = new PackagesParser((f) => got.push(f));
      for (let i = 0; i < text.length; i += step) p.push(text.slice(i, i + step));
      p.end();
      assert.deepEqual(got, [
        { filename: 'pool/main/b/bash/bash_5.2_amd64.deb', sha256: A, size: 1500000 },
        { filename: 'pool/main/l/last_1_all.deb', sha256: C, size: 7 },
      ], `chunks of ${step}`);
    }
  });

  it('classifies requests: packages, releases, Packages indexes by name and by hash, other index files', () => {
    assert.deepEqual(classifyRequest('pool/main/b/bash/bash_5.2_amd64.deb'), { kind: 'package', path: 'pool/main/b/bash/bash_5.2_amd64.deb' });
    assert.deepEqual(classifyRequest('dists/bookworm/InRelease'), { kind: 'release', suite: 'bookworm', path: 'dists/bookworm/InRelease' });
    assert.deepEqual(classifyRequest('dists/bookworm/main/binary-amd64/Packages.xz'), { kind: 'packages', suite: 'bookworm', component: 'main', arch: 'amd64', file: 'Packages.xz', path: 'dists/bookworm/main/binary-amd64/Packages.xz' });
    assert.deepEqual(classifyRequest(`dists/bookworm-security/updates/main/binary-amd64/by-hash/SHA256/${A}`), { kind: 'packages', suite: 'bookworm-security', component: 'updates/main', arch: 'amd64', byHash: A, path: `dists/bookworm-security/updates/main/binary-amd64/by-hash/SHA256/${A}` });
    assert.equal(classifyRequest('dists/bookworm/main/i18n/Translation-en.bz2').kind, 'other-index');
    assert.equal(classifyRequest('dists/bookworm/main/binary-amd64/Release').kind, 'other-index');
    assert.equal(classifyRequest('README').kind, 'other');
    assert.equal(compressionOf(Buffer.from([0x1f, 0x8b, 8])), 'gz');
    assert.equal(compressionOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0])), 'xz');
    assert.equal(compressionOf(Buffer.from('Package: x')), 'none');
  });

  it('parses the one Range apt sends to resume, refuses unsatisfiable ones', () => {
    assert.equal(parseRange(undefined, 100), undefined);
    assert.deepEqual(parseRange('bytes=10-', 100), { start: 10, end: 100 });
    assert.deepEqual(parseRange('bytes=10-19', 100), { start: 10, end: 20 });
    assert.deepEqual(parseRange('bytes=-30', 100), { start: 70, end: 100 });
    assert.deepEqual(parseRange('bytes=90-500', 100), { start: 90, end: 100 });
    assert.equal(parseRange('bytes=100-', 100), 'invalid');
    assert.equal(parseRange('bytes=1-2,5-6', 100), undefined);
  });
});

describe('apt proxy package index', () => {
  const packages = `Package: a\nFilename: pool/main/a/a_1_all.deb\nSize: 5\nSHA256: ${A}\n\nPackage: b\nFilename: pool/main/b/b_1_all.deb\nSize: 6\nSHA256: ${B}\n`;
  const gz = gzipSync(packages);

  it('knows index files by name and by hash from the Release; tells a by-hash Packages from a by-hash Release', () => {
    const idx = new PackageIndex({ fetchFile: () => Promise.reject(new Error('not used')), log: silentLogger() });
    assert.equal(idx.indexRef('debian', 'dists/bookworm/main/binary-amd64/Packages.xz'), undefined, 'no Release seen yet');
    idx.sawRelease('debian', 'bookworm', Buffer.from(INRELEASE));
    assert.deepEqual(idx.indexRef('debian', 'dists/bookworm/main/binary-amd64/Packages.xz'), { sha256: C, size: 8790396 });
    assert.deepEqual(idx.indexRef('debian', `dists/bookworm/main/binary-amd64/by-hash/SHA256/${B}`), { sha256: B, size: 12084798 });
    assert.equal(idx.indexRef('debian', 'dists/bookworm/InRelease'), undefined, 'the Release itself always passes through');
    assert.equal(idx.indexRef('debian-security', 'dists/bookworm/main/binary-amd64/Packages.xz'), undefined, 'per mirror');
    const req = (h: string) => ({ kind: 'packages' as const, suite: 'bookworm', component: 'main', arch: 'amd64', byHash: h, path: `dists/bookworm/main/binary-amd64/by-hash/SHA256/${h}` });
    assert.equal(idx.isPackages('debian', req(C), Buffer.alloc(0)), true);
    assert.equal(idx.isPackages('debian', req('e'.repeat(64)), Buffer.from('Origin: Debian\n')), false);
  });

  it('indexes a Packages.gz that passed; a package request waits for the load under way', async () => {
    const idx = new PackageIndex({ fetchFile: () => Promise.reject(new Error('not used')), log: silentLogger() });
    assert.equal(await idx.waitFor('debian', 'pool/main/a/a_1_all.deb', 10), undefined, 'nothing loading: no wait');
    idx.sawPackages('debian', { kind: 'packages', suite: 'bookworm', component: 'main', arch: 'amd64', file: 'Packages.gz', path: 'dists/bookworm/main/binary-amd64/Packages.gz' }, gz);
    assert.deepEqual(await idx.waitFor('debian', 'pool/main/b/b_1_all.deb', 5000), { sha256: B, size: 6 });
    assert.equal(idx.size, 2);
    assert.equal(idx.lookup('other', 'pool/main/b/b_1_all.deb'), undefined);
  });
});

describe('swarm metrics record', () => {
  it('adds the proxy pass-through to the bytes from the seed; round-trips; rejects foreign values', () => {
    const s = { ...emptyStats(), bytesFromSeed: 100, bytesFromPeers: 900, bytesServedToPeers: 50 };
    const rec = { ...metricsRecord('m1', s, { requests: 3, packagesFromSwarm: 2, indexFilesFromSwarm: 0, passedThrough: 1, passThroughBytes: 7, swarmFailures: 0 }, 'peer'), at: '2026-11-22T18:00:00.000Z' };
    assert.equal(rec.bytesFromSeed, 107);
    assert.equal(rec.bytesFromPeers, 900);
    assert.deepEqual(decodeSwarmMetrics(JSON.stringify(rec)), rec);
    assert.equal(decodeSwarmMetrics('{"machine":"x"}'), undefined);
    assert.equal(decodeSwarmMetrics('not json'), undefined);
    const text = renderMachineSwarmMetrics([rec, { ...rec, machine: 'a"b', bytesFromPeers: 1 }]);
    assert.match(text, /^lpmos_machine_swarm_bytes\{machine="m1",kind="from_peers"\} 900$/m);
    assert.match(text, /^lpmos_machine_swarm_bytes\{machine="a\\"b",kind="from_peers"\} 1$/m);
    assert.match(text, /^lpmos_swarm_bytes\{kind="from_peers"\} 901$/m);
    assert.match(text, /^lpmos_machine_swarm_report_time_seconds\{machine="m1"\} 1795\d+$/m);
    assert.match(renderSeedBlobStats(s), /^lpmos_seed_blob_bytes_total\{kind="served_to_peers"\} 50$/m);
  });

  it('the agent\'s blob budget: a quarter of free memory within 64 MiB … 1 GiB', () => {
    assert.equal(blobBudget(1024 * 2 ** 20), 256 * 2 ** 20);
    assert.equal(blobBudget(100 * 2 ** 20), 64 * 2 ** 20);
    assert.equal(blobBudget(64 * GiB), GiB);
  });
});

describe('install spec: the installed system\'s mirror vs. what installs', () => {
  const p = profile(biosStorage, { packages: ['htop'] });
  const l = layoutOf(p, [disk('vda', 8 * GiB)]);
  const f = { uuids: { '/dev/vda2': '1111-2222', '/dev/vda3': '33333333-4444-5555-6666-777777777777', '/dev/vda4': '66666666-7777-8888-9999-000000000000' }, efivars: false };
  const proxied = spec({ installMirror: 'http://127.0.0.1:4567/mirror/debian', aptProxy: 'http://127.0.0.1:4567/' });

  it('debootstrap uses the proxy; apt in the target uses it as its HTTP proxy; the sources name the seed', () => {
    const steps = debianSteps(p, l, proxied);
    const os = steps.find((s) => s.id === 'os')!.actions(f);
    const boot = os.find((a) => a.kind === 'debootstrap')!;
    assert.ok(boot.kind === 'debootstrap');
    assert.equal(boot.mirror, 'http://127.0.0.1:4567/mirror/debian');
    assert.equal(boot.prefetch, true, 'through the proxy, the resolved packages are fetched ahead');
    const conf = steps.find((s) => s.id === 'configure')!.actions(f);
    const sources = conf.find((a) => a.kind === 'write' && a.path === '/target/etc/apt/sources.list');
    assert.ok(sources?.kind === 'write');
    assert.match(sources.content, /^deb http:\/\/10\.0\.0\.1:8080\/debian bookworm main/m);
    assert.doesNotMatch(sources.content, /127\.0\.0\.1/);
    const apt = conf.flatMap((a) => (a.kind === 'run' && a.argv[0] === 'apt-get' ? [a.argv.join(' ')] : []));
    assert.deepEqual(apt, ['apt-get -o Acquire::http::Proxy=http://127.0.0.1:4567/ update', 'apt-get -o Acquire::http::Proxy=http://127.0.0.1:4567/ install -y --no-install-recommends htop']);
  });

  it('a profile with its own mirror ignores the proxy', () => {
    const own = profile(biosStorage, { packages: ['htop'], mirror: 'http://mirror.example/debian' });
    const steps = debianSteps(own, layoutOf(own, [disk('vda', 8 * GiB)]), proxied);
    const boot = steps.find((s) => s.id === 'os')!.actions(f).find((a) => a.kind === 'debootstrap')!;
    assert.ok(boot.kind === 'debootstrap');
    assert.equal(boot.mirror, 'http://mirror.example/debian');
    assert.equal(boot.prefetch, false);
    const apt = steps.find((s) => s.id === 'configure')!.actions(f).flatMap((a) => (a.kind === 'run' && a.argv[0] === 'apt-get' ? [a.argv.join(' ')] : []));
    assert.deepEqual(apt, ['apt-get update', 'apt-get install -y --no-install-recommends htop']);
  });
});
