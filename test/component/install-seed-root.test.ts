// A Debian root built once by the seed, installed on this machine's loop disk: the seed's real HTTP server
// with its apt mirror (cached under ~/.cache/lpmos/mirror) and root images (RootImageBuilds: debootstrap
// on this host from that mirror, kept under ~/.cache/lpmos/rootfs, so a second run finds the image
// built); the agent's SeedRootImages fetches it and the install unpacks it onto the disk, is stopped
// mid-unpack, resumed, and the installed system is checked as in install-debian.test.ts. Everything made
// here (loop devices, mounts, files, the server) is removed afterwards, also when the test fails.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SeedRootImages } from '../../agent/root-images.ts';
import { Keys } from '../../core/keys.ts';
import { silentLogger } from '../../core/log.ts';
import type { Store } from '../../core/store/store.ts';
import type { RootImageSpec } from '../../installers/debian/root-image.ts';
import { install, planInstall, type InstallPlan } from '../../installers/install.ts';
import type { InstallSpec } from '../../installers/plan/types.ts';
import type { ProgressEvent } from '../../installers/runner.ts';
import { startHttp, type HttpServer } from '../../seed/http/server.ts';
import { MirrorCache } from '../../seed/mirror/cache.ts';
import { parseMirrorSetting, readHostSources } from '../../seed/mirror/setting.ts';
import { RootImageBuilds } from '../../seed/rootfs/builds.ts';
import { openStore } from '../../store/connect.ts';
import { MemoryStore } from '../../store/memory.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { GiB, biosProfile, checkInstalled, detachLoops, hostMirror, loopDisk, loopSkip, unmountAll } from '../helpers/loop-install.ts';

const work = join(existsSync('/dev/shm') ? '/dev/shm' : '/tmp', `lpmos-seedroot-${process.pid}`);
const target = join(work, 'target');
const inspect = join(work, 'inspect');
const keys = new Keys('/lpmos/', `seedroot-${process.pid}`);
const loops: string[] = [];

/** The image spec the plan's os step asks the seed for. */
function osStepImage(plan: InstallPlan): RootImageSpec {
  const a = plan.steps.find((x) => x.id === 'os')!.actions({ uuids: {}, efivars: false }).find((x) => x.kind === 'rootfs');
  assert.ok(a?.kind === 'rootfs', 'the os step unpacks a seed-built root');
  return a.spec;
}


describe('install a seed-built root to a loop disk on this machine', { skip: loopSkip, timeout: 40 * 60_000 }, () => {
  let etcd: TestEtcd;
  let store: Store;
  before(async () => {
    mkdirSync(target, { recursive: true });
    mkdirSync(inspect, { recursive: true });
    etcd = await TestEtcd.start();
    store = await openStore({ endpoints: etcd.endpoints });
  });
  after(async () => {
    unmountAll(inspect);
    unmountAll(target);
    detachLoops(loops);
    rmSync(work, { recursive: true, force: true });
    await store?.close();
    await etcd?.stop();
  });
  it('installs from a root the seed built once (POST /rootfs, debootstrap on the seed from its mirror): stopped mid-unpack, resumed', { timeout: 40 * 60_000 }, async () => {
    // The seed: its HTTP server with the apt mirror (cached under ~/.cache/lpmos/mirror) and root
    // images kept under ~/.cache/lpmos/rootfs (a second run finds this package set built).
    const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lpmos');
    const mirror = new MirrorCache({ dir: join(cache, 'mirror'), upstreams: parseMirrorSetting('auto', await readHostSources()), logger: silentLogger() });
    // The seed builds from its own mirror, over HTTP (called once the server below listens).
    const builds = new RootImageBuilds({ dir: join(cache, 'rootfs'), mirrorUrl: (os) => `http://127.0.0.1:${http.port}/mirror/${os}` });
    const http: HttpServer = await startHttp({ port: 0, address: '127.0.0.1' }, { logger: silentLogger(), store: new MemoryStore(), keys: new Keys(), site: 'default', prefix: '/lpmos/', etcdEndpoints: ['http://127.0.0.1:2379'], mirror, rootfs: builds });
    try {
      const d = loopDisk(join(work, 'disk2.img'), 4 * GiB, loops);
      const s: InstallSpec = { machine: 'loop-02', firmware: 'bios', mirror: hostMirror(), target, hostname: 'loop-01', rootImages: true, seedUrl: `http://127.0.0.1:${http.port}` };
      const plan = planInstall(biosProfile(true), new Map([['d0', d]]), s);
      const images = new SeedRootImages({ seedUrl: s.seedUrl!, logger: silentLogger(), pollMs: 1000 });
      const osStep = plan.steps.find((x) => x.id === 'os')!;
      assert.match(osStep.title, /built by the seed/);

      // Run 1: stopped once the unpack has begun (the seed builds first, when it has not yet).
      const ac = new AbortController();
      let poll: NodeJS.Timeout | undefined;
      const seen: ProgressEvent[] = [];
      let t0 = Date.now();
      await assert.rejects(install({ store, keys, plan, spec: s, images, signal: ac.signal, onProgress: (e) => {
        seen.push(e);
        if (e.step === 'os' && e.state === 'progress' && /unpacking the root image/.test(e.message ?? '') && !poll) {
          poll = setInterval(() => {
            if (existsSync(join(target, 'usr/bin'))) ac.abort(new Error('agent killed'));
          }, 20);
        }
      } }), /agent killed/);
      clearInterval(poll);
      const aborted = Date.now() - t0;
      assert.ok(!existsSync(join(target, 'var/lib/lpmos/os.done')), 'stopped before the unpack finished');
      unmountAll(target);
      const ref = await builds.request(osStepImage(plan));
      assert.equal(ref.state, 'ready', 'the seed kept the image it built');

      // Run 2: resumed; the os step starts from an emptied root and unpacks the same image.
      t0 = Date.now();
      const r = await install({ store, keys, plan, spec: s, images, signal: AbortSignal.timeout(20 * 60_000) });
      const resumed = Date.now() - t0;
      assert.deepEqual(r.ran, ['mount', 'os', 'configure', 'bootloader', 'unmount', 'done']);
      assert.ok(builds.built <= 1, 'built at most once');
      checkInstalled(plan, d, 'loop-02', inspect, (root) => {
        assert.match(readFileSync(join(root, 'etc/machine-id'), 'utf8'), /^[0-9a-f]{32}\n$/, 'a machine-id of its own');
        assert.ok(existsSync(join(root, 'etc/ssh/ssh_host_ed25519_key')), 'SSH host keys of its own');
        assert.ok(!readdirSync(join(root, 'var/cache/apt/archives')).some((f) => f.endsWith('.deb')), 'no package files in the image');
      });
      const building = seen.filter((e) => /the seed builds the root image/.test(e.message ?? '')).length;
      console.log(`# seed-built root (${ref.state === 'ready' ? `${(ref.image.size / 2 ** 20).toFixed(0)} MiB, built in ${ref.image.buildSeconds} s` : '?'}; ${building ? 'built during this run' : 'found built'}): stopped after ${aborted} ms, resumed run ${resumed} ms`);
    } finally {
      await http.stop();
      await builds.stop();
    }
  });
});
