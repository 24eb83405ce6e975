// Boot scripts from the seed's HTTP server on a loopback port, rendered from machine state in the
// in-memory Store twin and in a real etcd: enrolment of an unknown MAC (exactly once under 20
// concurrent requests), localboot BIOS vs UEFI, an install script that carries every kernel
// argument, GRUB and pxelinux menus, refusals with 400/503/500 naming the problem.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAgentCmdline, parseCmdline } from '../../core/cmdline.ts';
import { Keys } from '../../core/keys.ts';
import { machineSchema } from '../../core/model/machine.ts';
import { addMachine } from '../../core/registry/machines.ts';
import { statusSchema } from '../../core/model/status.ts';
import type { Store } from '../../core/store/store.ts';
import { openStore } from '../../store/connect.ts';
import { MemoryStore } from '../../store/memory.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { artifactDir, curl, testServer, writeManifest, type TestServer } from './http-helpers.ts';

const keys = new Keys('/lpmos/', 'default');
const BOOTSTRAP = '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWSeedPeer';
let dir: Awaited<ReturnType<typeof artifactDir>>;

before(async () => {
  dir = await artifactDir({ 'vmlinuz': 2048, 'initrd.img': 4096 });
});
after(async () => {
  await dir?.cleanup();
});

/** `m-` + the MAC without colons: the name core/model/machine.ts gives an enrolled machine. */
const idOf = (mac: string) => `m-${mac.replaceAll(':', '')}`;
let macCounter = 0x10;
const freshMac = () => `52:54:00:aa:00:${(macCounter++).toString(16).padStart(2, '0')}`;

/**
 * The same store, with the first `count` reads of one key held back until all `count` have been
 * made (or `maxWaitMs` passed) and then answered with what each read when it arrived: every request
 * sees the state before any of them wrote, whatever the scheduling. Counts refused transactions.
 */
function raceStore(inner: Store, key: string, count: number, maxWaitMs = 5000): { store: Store; refused: () => number; held: () => number } {
  let refused = 0;
  let held = 0;
  const waiting: Array<() => void> = [];
  let timer: NodeJS.Timeout | undefined;
  const releaseAll = () => {
    clearTimeout(timer);
    for (const release of waiting.splice(0)) release();
  };
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'get') {
        return async (...args: Parameters<Store['get']>) => {
          const v = await target.get(...args);
          if (args[0] !== key || held >= count) return v;
          held++;
          await new Promise<void>((resolve) => {
            waiting.push(resolve);
            if (held === count) releaseAll();
            else timer ??= setTimeout(releaseAll, maxWaitMs);
          });
          return v;
        };
      }
      if (prop === 'txn') {
        return async (...args: Parameters<Store['txn']>) => {
          const r = await target.txn(...args);
          if (!r.succeeded) refused++;
          return r;
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store, refused: () => refused, held: () => held };
}

function kernelArgs(script: string): string {
  const line = script.split('\n').find((l) => l.startsWith('kernel '));
  assert.ok(line, `a kernel line in:\n${script}`);
  return line.replace(/^kernel \S+ /, '').replace(/ \|\| goto failed$/, '');
}

/** The scenarios every store must pass: the same code path on the twin and on etcd. */
function bootSuite(name: string, open: () => Promise<{ store: Store; close: () => Promise<void> }>): void {
  describe(name, () => {
    let store: Store;
    let close: () => Promise<void>;
    let srv: TestServer;
    before(async () => {
      ({ store, close } = await open());
      srv = await testServer(store, { artifacts: [dir.dir], swarmBootstrap: BOOTSTRAP }, { etcd: ['http://127.0.0.1:2379'] });
    });
    after(async () => {
      await srv?.stop();
      await close?.();
    });

    test('an unknown MAC is enrolled as discovered with its serial, UUID and platform, and gets the agent', async () => {
      const mac = freshMac();
      const r = await fetch(`${srv.base}/boot/ipxe?mac=${mac}&uuid=4C4C4544-0042-3510-8052-B4C04F4E4B32&serial=SN%20123&arch=x86_64&platform=efi`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      const script = await r.text();
      const id = idOf(mac);
      const machine = machineSchema.parse(JSON.parse((await store.get(keys.machine(id)))!.value));
      assert.deepEqual(machine.macs, [mac]);
      assert.equal(machine.serial, 'SN 123');
      assert.equal(machine.uuid, '4c4c4544-0042-3510-8052-b4c04f4e4b32');
      assert.equal(machine.labels['lpmos/enrolled-by'], 'http');
      assert.equal(machine.labels['lpmos/platform'], 'efi');
      assert.equal((await store.get(keys.macIndex(mac)))?.value, id);
      assert.equal(statusSchema.parse(JSON.parse((await store.get(keys.status(id)))!.value)).state, 'discovered');
      const args = parseCmdline(kernelArgs(script));
      assert.equal(args.get('lpmos.machine'), id);
      assert.equal(args.get('lpmos.action'), 'discover');
      assert.equal(args.get('BOOTIF'), `01-${mac.replaceAll(':', '-')}`);
      assert.ok(srv.log.some((l) => l.msg === 'http: enrolled a discovered machine' && l.machine === id));
    });

    test('20 concurrent requests for one new MAC enroll it exactly once', async () => {
      // The twenty MAC lookups are answered together (the store itself is real), so all see "unknown"
      // before any write lands: the race is forced, not left to timing. Refused transactions prove it.
      const mac = freshMac();
      const id = idOf(mac);
      const racing = raceStore(store, keys.macIndex(mac), 20);
      const fast = await testServer(racing.store, { artifacts: [dir.dir], swarmBootstrap: BOOTSTRAP });
      try {
        const rev0 = await store.revision();
        const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(`${fast.base}/boot/ipxe?mac=${mac}&arch=x86_64&platform=pcbios`).then(async (r) => ({ status: r.status, text: await r.text() }))));
        for (const a of answers) {
          assert.equal(a.status, 200, a.text);
          assert.equal(parseCmdline(kernelArgs(a.text)).get('lpmos.machine'), id);
        }
        assert.equal(racing.held(), 20, 'all twenty looked the MAC up before any enrolment');
        assert.ok(racing.refused() >= 1, `the enrolments raced: ${racing.refused()} transactions refused`);
        const identity = await store.get(keys.machine(id));
        const status = await store.get(keys.status(id));
        assert.equal(identity?.version, 1, 'identity written once');
        assert.equal(status?.version, 1, 'status written once');
        assert.equal((await store.get(keys.macIndex(mac)))?.version, 1);
        assert.equal(fast.log.filter((l) => l.msg === 'http: enrolled a discovered machine' && l.machine === id).length, 1);
        // Exactly two transactions went through: the enrolment (identity + MAC index) and the status.
        assert.equal((await store.revision()) - rev0, 2);
      } finally {
        await fast.stop();
      }
    });

    test('a machine applied without a status gets `discovered` once, also under 20 concurrent boots', async () => {
      const racing = raceStore(store, keys.status('applied-01'), 20);
      const fast = await testServer(racing.store, { artifacts: [dir.dir] });
      try {
        const mac = freshMac();
        await addMachine(store, keys, { name: 'applied-01', macs: [mac] });
        const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(`${fast.base}/boot/ipxe?mac=${mac}`).then((r) => r.status)));
        assert.deepEqual(new Set(answers), new Set([200]));
        assert.equal(racing.held(), 20, 'all twenty read the missing status before any wrote it');
        assert.equal(racing.refused(), 19, 'nineteen status writes refused by compare-and-swap');
        const status = await store.get(keys.status('applied-01'));
        assert.equal(status?.version, 1, 'status written once');
        assert.equal(statusSchema.parse(JSON.parse(status.value)).state, 'discovered');
        assert.equal((await store.get(keys.machine('applied-01')))?.version, 1, 'identity untouched');
      } finally {
        await fast.stop();
      }
    });

    test('localboot: BIOS boots drive 0x80, UEFI returns to the firmware, no platform decides in iPXE', async () => {
      const mac = freshMac();
      const id = idOf(mac);
      assert.equal((await fetch(`${srv.base}/boot/ipxe?mac=${mac}`)).status, 200); // enrol
      await store.put(keys.spec(id), JSON.stringify({ action: 'localboot' }));
      const bios = await (await fetch(`${srv.base}/boot/ipxe?mac=${mac}&platform=pcbios&arch=i386`)).text();
      const efi = await (await fetch(`${srv.base}/boot/ipxe?mac=${mac}&platform=efi&arch=x86_64`)).text();
      const any = await (await fetch(`${srv.base}/boot/ipxe?mac=${mac}`)).text();
      const commands = (s: string) => s.split('\n').filter((l) => l && !l.startsWith('#'));
      assert.deepEqual(commands(bios), ['sanboot --no-describe --drive 0x80 || exit']);
      assert.deepEqual(commands(efi), ['exit']);
      assert.deepEqual(commands(any), ['iseq ${platform} efi && goto efi ||', 'sanboot --no-describe --drive 0x80 || exit', ':efi', 'exit']);
    });

    test('install: the script carries every kernel argument, the machine override last', async () => {
      const mac = freshMac();
      const id = idOf(mac);
      assert.equal((await fetch(`${srv.base}/boot/ipxe?mac=${mac}`)).status, 200);
      await store.put(keys.spec(id), JSON.stringify({ action: 'install', profile: 'debian12', overrides: { kernelCmdline: 'lpmos.debug=1 nomodeset' } }));
      const script = await (await fetch(`${srv.base}/boot/ipxe?mac=${mac}&platform=efi&arch=x86_64`)).text();
      const args = kernelArgs(script);
      assert.deepEqual(decodeAgentCmdline(args), {
        seed: srv.base, etcd: ['http://127.0.0.1:2379'], site: 'default', prefix: '/lpmos/', bootstrap: [BOOTSTRAP], machine: id, bootMac: mac,
      });
      const p = parseCmdline(args);
      assert.equal(p.get('lpmos.action'), 'install');
      assert.equal(p.get('initrd'), 'initrd.img');
      assert.ok(args.includes('console=tty0 console=ttyS0,115200n8'));
      assert.ok(args.endsWith('lpmos.debug=1 nomodeset'));
      assert.ok(script.includes(`kernel ${srv.base}/artifacts/vmlinuz `));
      assert.ok(script.includes(`initrd --name initrd.img ${srv.base}/artifacts/initrd.img || goto failed`));
      // …and the URLs in it serve the artifacts.
      const kernel = await fetch(`${srv.base}/artifacts/vmlinuz`);
      assert.equal(kernel.status, 200);
      assert.equal((await kernel.arrayBuffer()).byteLength, 2048);
    });

    test('GRUB and pxelinux over HTTP: by MAC in the path or query, default menus, other pxelinux names 404', async () => {
      const mac = freshMac();
      const id = idOf(mac);
      const dashed = mac.replaceAll(':', '-');
      const px = await fetch(`${srv.base}/boot/pxelinux.cfg/01-${dashed}`);
      assert.equal(px.status, 200);
      const pxText = await px.text();
      assert.match(pxText, new RegExp(`APPEND .*lpmos\\.machine=${id}`));
      assert.ok(await store.get(keys.machine(id)), 'enrolled through pxelinux too');
      const grub = await (await fetch(`${srv.base}/boot/grub/grub.cfg-01-${dashed}`)).text();
      assert.match(grub, new RegExp(`linux \\(http,127\\.0\\.0\\.1:${srv.server.port}\\)/artifacts/vmlinuz .*BOOTIF=01-${dashed}`));
      assert.equal((await fetch(`${srv.base}/boot/grub.cfg?mac=${mac}`)).status, 200);
      const def = await (await fetch(`${srv.base}/boot/pxelinux.cfg/default`)).text();
      assert.ok(def.includes('an unknown machine') && !def.includes('lpmos.machine='));
      assert.equal((await fetch(`${srv.base}/boot/pxelinux.cfg/C0A80001`)).status, 404);
      await store.put(keys.spec(id), JSON.stringify({ action: 'localboot' }));
      assert.match(await (await fetch(`${srv.base}/boot/pxelinux.cfg/01-${dashed}`)).text(), /^DEFAULT local$/m);
    });

    test('bad requests: 400 naming the parameter; a broken record in the store: 500 naming the key; the server goes on', async () => {
      const cases: Array<[string, RegExp]> = [
        ['/boot/ipxe', /query parameter "mac": missing/],
        ['/boot/ipxe?mac=not-a-mac', /query parameter "mac"/],
        ['/boot/ipxe?mac=52:54:00:00:00:01&arch=sparc', /query parameter "arch"/],
        ['/boot/ipxe?mac=52:54:00:00:00:01&platform=bios', /query parameter "platform"/],
        ['/boot/ipxe?mac=52:54:00:00:00:01&hostname=x', /query parameter "hostname": unknown/],
        ['/boot.ipxe?mac=52:54:00:00:00:01', /takes no query/],
        [`/boot/pxelinux.cfg/01-52-54-00-00-00-01?mac=52:54:00:00:00:01`, /names the MAC already/],
      ];
      for (const [path, message] of cases) {
        const r = await curl(['-o', '-', '-w', '\n%{http_code}', srv.base + path]);
        const out = r.stdout.toString();
        assert.ok(out.endsWith('\n400'), `${path}: ${out}`);
        assert.match(out, message, path);
      }
      const mac = freshMac();
      const id = idOf(mac);
      assert.equal((await fetch(`${srv.base}/boot/ipxe?mac=${mac}`)).status, 200);
      await store.put(keys.spec(id), '{"action": "explode"}');
      const r = await fetch(`${srv.base}/boot/ipxe?mac=${mac}`);
      assert.equal(r.status, 500);
      assert.match(await r.text(), new RegExp(`stored record ${keys.spec(id)} does not match its schema`));
      await store.put(keys.spec(id), JSON.stringify({ action: 'inspect', overrides: { kernelCmdline: 'a\nshell' } }));
      const inj = await fetch(`${srv.base}/boot/ipxe?mac=${mac}`);
      assert.equal(inj.status, 422);
      assert.match(await inj.text(), /kernelCmdline must be printable ASCII on one line/);
      assert.equal((await fetch(`${srv.base}/healthz`)).status, 200);
    });
  });
}

bootSuite('memory store', async () => {
  const store = new MemoryStore();
  return { store, close: () => store.close() };
});

bootSuite('etcd', async () => {
  const etcd = await TestEtcd.start();
  try {
    const store = await openStore({ endpoints: etcd.endpoints });
    return { store, close: async () => { await store.close(); await etcd.stop(); } };
  } catch (e) {
    await etcd.stop();
    throw e;
  }
});

test('the /boot.ipxe chain script names the seed as the client reached it, or the public URL', async () => {
  const store = new MemoryStore();
  const a = await testServer(store, { artifacts: [dir.dir] });
  const b = await testServer(store, { artifacts: [dir.dir], publicUrl: 'http://10.213.16.1:8080/' });
  try {
    const r = await curl(['--fail', `${a.base}/boot.ipxe`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.toString().includes(`chain ${a.base}/boot/ipxe?mac=\${netX/mac}&uuid=\${uuid}&serial=\${serial:uristring}&arch=\${buildarch}&platform=\${platform} || goto failed`));
    assert.ok((await (await fetch(`${b.base}/boot.ipxe`)).text()).includes('chain http://10.213.16.1:8080/boot/ipxe?'));
  } finally {
    await a.stop();
    await b.stop();
    await store.close();
  }
});

test('without the agent artifacts, agent scripts are 503 naming them until they appear; localboot works regardless', async () => {
  const store = new MemoryStore();
  const empty = await artifactDir({});
  const srv = await testServer(store, { artifacts: [empty.dir] });
  try {
    const mac = '52:54:00:bb:00:01';
    const r = await fetch(`${srv.base}/boot/ipxe?mac=${mac}`);
    assert.equal(r.status, 503);
    assert.match(await r.text(), /agent "vmlinuz" and "initrd.img" not among the artifacts/);
    // A ramdisk built while the seed runs is picked up at the next boot, without a restart.
    await new Promise((res) => setTimeout(res, 20)); // a different manifest mtime
    await writeFile(join(empty.dir, 'vmlinuz'), dir.files.get('vmlinuz')!.data);
    await writeFile(join(empty.dir, 'initrd.img'), dir.files.get('initrd.img')!.data);
    await writeManifest(empty.dir, [dir.files.get('vmlinuz')!, dir.files.get('initrd.img')!]);
    const again = await fetch(`${srv.base}/boot/ipxe?mac=${mac}`);
    assert.equal(again.status, 200, await again.clone().text());
    assert.match(await again.text(), /^kernel /m);
    await store.put(keys.spec(idOf(mac)), JSON.stringify({ action: 'localboot' }));
    assert.equal((await fetch(`${srv.base}/boot/ipxe?mac=${mac}&platform=efi`)).status, 200);
  } finally {
    await srv.stop();
    await store.close();
    await empty.cleanup();
  }
});
