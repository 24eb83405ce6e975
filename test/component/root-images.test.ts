// A seed-built root between the seed and the agent, without the debootstrap (install-debian.test.ts
// does that): an image found in the seed's rootfs directory is answered `ready` by POST /rootfs on the
// seed's real HTTP server, the agent's SeedRootImages streams it and unpack puts the tree in place
// (modes, owners, symlinks, hard links); an image whose bytes are not the recorded sha256 fails the
// unpack with E_VALIDATION naming both hashes; a spec the seed cannot read is a 422 naming the field,
// and an image still building answers 202 with Retry-After.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, createWriteStream, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createZstdCompress } from 'node:zlib';
import { SeedRootImages } from '../../agent/root-images.ts';
import { LpmosError } from '../../core/errors.ts';
import { Keys } from '../../core/keys.ts';
import { silentLogger } from '../../core/log.ts';
import { rootfsQuery, rootImageKey, rootPackArgv, type RootImageSpec } from '../../installers/debian/root-image.ts';
import { unpackRootImage } from '../../installers/debian/root-unpack.ts';
import { startHttp, type HttpServer } from '../../seed/http/server.ts';
import { RootImageBuilds } from '../../seed/rootfs/builds.ts';
import { MemoryStore } from '../../store/memory.ts';

const work = mkdtempSync(join(tmpdir(), `lpmos-rootimg-${process.pid}-`));
const spec: RootImageSpec = { os: 'debian', suite: 'bookworm', arch: 'amd64', variant: 'minbase', components: ['main'], include: ['udev'] };
const root = process.getuid?.() === 0;
let http: HttpServer;
let builds: RootImageBuilds;

/** A small root tree packed the way the seed packs its builds (rootPackArgv → zstd), recorded as built. */
async function packImage(dir: string, key: string): Promise<{ sha256: string; size: number }> {
  const tree = join(work, 'tree');
  mkdirSync(join(tree, 'etc/ssh'), { recursive: true });
  mkdirSync(join(tree, 'usr/bin'), { recursive: true });
  writeFileSync(join(tree, 'etc/os-release'), 'ID=debian\n');
  writeFileSync(join(tree, 'usr/bin/tool'), '#!/bin/sh\necho ok\n');
  chmodSync(join(tree, 'usr/bin/tool'), 0o4755);
  symlinkSync('usr/bin', join(tree, 'bin'));
  linkSync(join(tree, 'usr/bin/tool'), join(tree, 'usr/bin/tool2'));
  writeFileSync(join(tree, 'etc/shadow'), 'root:*:1::::::\n', { mode: 0o640 });
  if (root) chownSync(join(tree, 'etc/shadow'), 0, 42);
  writeFileSync(join(tree, 'big'), Buffer.alloc(3 * 1024 * 1024, 7));
  const [cmd, ...args] = rootPackArgv(tree);
  const tar = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const file = join(dir, `${key}.tar.zst`);
  await pipeline(tar.stdout, createZstdCompress(), createWriteStream(file));
  const bytes = readFileSync(file);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(join(dir, `${key}.json`), JSON.stringify({ key, sha256, size: bytes.length, path: `/rootfs/${key}.tar.zst`, packages: 1, builtAt: new Date().toISOString(), buildSeconds: 1 }));
  return { sha256, size: bytes.length };
}

describe('seed-built roots: seed HTTP → agent → unpack', () => {
  let image: { sha256: string; size: number };
  const dir = join(work, 'rootfs');
  before(async () => {
    mkdirSync(dir, { recursive: true });
    image = await packImage(dir, rootImageKey(spec));
    builds = new RootImageBuilds({ dir, mirrorUrl: () => 'http://127.0.0.1:9/mirror/debian' });
    http = await startHttp({ port: 0, address: '127.0.0.1' }, { logger: silentLogger(), store: new MemoryStore(), keys: new Keys(), site: 'default', prefix: '/lpmos/', etcdEndpoints: ['http://127.0.0.1:2379'], rootfs: builds });
  });
  after(async () => {
    await http?.stop();
    await builds?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('an image on the seed is ready at once; the agent unpacks the same tree', async () => {
    const images = new SeedRootImages({ seedUrl: `http://127.0.0.1:${http.port}`, logger: silentLogger(), pollMs: 100 });
    const opened = await images.open(spec, AbortSignal.timeout(30_000), () => undefined);
    assert.equal(opened.sha256, image.sha256);
    assert.equal(opened.via, 'seed (HTTP)');
    const target = join(work, 'target1');
    mkdirSync(target);
    const seen: string[] = [];
    await unpackRootImage(opened, target, AbortSignal.timeout(30_000), (p) => seen.push(p.message ?? ''), silentLogger());
    assert.equal(readFileSync(join(target, 'etc/os-release'), 'utf8'), 'ID=debian\n');
    assert.equal(statSync(join(target, 'usr/bin/tool')).mode & 0o7777, 0o4755, 'setuid bit kept');
    assert.equal(readlinkSync(join(target, 'bin')), 'usr/bin');
    assert.equal(statSync(join(target, 'usr/bin/tool2')).ino, statSync(join(target, 'usr/bin/tool')).ino, 'hard link kept');
    if (root) assert.equal(lstatSync(join(target, 'etc/shadow')).gid, 42, 'numeric group kept');
    assert.equal(statSync(join(target, 'big')).size, 3 * 1024 * 1024);
    assert.match(seen.at(-1) ?? '', /root image unpacked/);
  });

  it('bytes that are not the recorded image fail the unpack with E_VALIDATION, naming both hashes', async () => {
    const file = builds.file(rootImageKey(spec));
    const good = readFileSync(file);
    const bad = Buffer.from(good);
    bad[bad.length - 100] = bad[bad.length - 100]! ^ 0xff; // same size, one byte off (in the last zstd block)
    writeFileSync(file, bad);
    try {
      const images = new SeedRootImages({ seedUrl: `http://127.0.0.1:${http.port}`, logger: silentLogger(), pollMs: 100 });
      const opened = await images.open(spec, AbortSignal.timeout(30_000), () => undefined);
      const target = join(work, 'target2');
      mkdirSync(target);
      await assert.rejects(unpackRootImage(opened, target, AbortSignal.timeout(30_000), () => undefined, silentLogger()), (e: unknown) => {
        assert.ok(e instanceof LpmosError && e.code === 'E_VALIDATION', String(e));
        assert.match(e.message, new RegExp(`expected ${image.size} bytes with ${image.sha256}`));
        return true;
      });
    } finally {
      writeFileSync(file, good);
    }
  });

  it('POST /rootfs: a bad spec is 422 naming the field; an unbuilt one is 202 with Retry-After, then its failure is 502', async () => {
    const base = `http://127.0.0.1:${http.port}/rootfs`;
    const bad = await fetch(`${base}?${rootfsQuery(spec).replace('include=udev', 'include=rm%20-rf')}`, { method: 'POST' });
    assert.equal(bad.status, 422);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /include\.0: not a package name/);
    const other = { ...spec, include: ['udev', 'mdadm'] };
    const first = await fetch(`${base}?${rootfsQuery(other)}`, { method: 'POST' });
    assert.equal(first.status, 202);
    assert.equal(first.headers.get('retry-after'), '5');
    assert.equal(((await first.json()) as { state: string }).state, 'building');
    // Its debootstrap cannot reach the mirror named above (port 9): the build fails, and says so.
    await builds.settled();
    const failed = await fetch(`${base}?${rootfsQuery(other)}`, { method: 'POST' });
    assert.equal(failed.status, 502);
    const body = (await failed.json()) as { state: string; message: string };
    assert.equal(body.state, 'failed');
    assert.match(body.message, /debootstrap/);
    assert.equal((await fetch(`${base}?${rootfsQuery(spec)}`, { method: 'GET' })).status, 405);
  });
});
