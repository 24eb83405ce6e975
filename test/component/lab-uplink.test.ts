// The lab's uplink (lab/uplink.ts): a client inside a lab namespace, which has no route out, reaches
// the package archive through the Unix-socket proxy — Node's fetch with NODE_USE_ENV_PROXY (what the
// seed's mirror uses) and curl with -x — and nothing else: other hosts and ports are refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LabNetwork } from '../../lab/network.ts';
import { Uplink, uplinkAllows } from '../../lab/uplink.ts';
import { readHostSources } from '../../seed/mirror/setting.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;

describe('lab uplink', () => {
  let net: LabNetwork;
  let uplink: Uplink;
  let dir: string;
  let mirror: URL;

  before(async () => {
    const sources = (await readHostSources()).filter((s) => /^http:\/\//.test(s.uri));
    assert.ok(sources.length, 'this host has http apt sources');
    mirror = new URL(sources[0]!.uri);
    dir = await mkdtemp(join(tmpdir(), 'lpmos-uplink-'));
    net = LabNetwork.create({ suffix: 'uplink', index: 14 });
    uplink = await Uplink.start({ dir, netns: net.ns, hosts: [mirror.hostname], root: ROOT });
  });
  after(async () => {
    await uplink?.stop();
    net?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('allows only the listed hosts on port 80 (pure)', () => {
    const a = new Set(['deb.debian.org']);
    assert.ok(uplinkAllows(a, 'deb.debian.org:80'));
    assert.ok(uplinkAllows(a, 'DEB.debian.org:80'));
    assert.ok(!uplinkAllows(a, 'deb.debian.org:443'));
    assert.ok(!uplinkAllows(a, 'example.org:80'));
    assert.ok(!uplinkAllows(a, 'deb.debian.org'));
  });

  it("Node's fetch in the namespace reaches the archive through it; without it there is no route", async () => {
    const url = `${mirror.href.replace(/\/+$/, '')}/dists/bookworm/Release`;
    const code = `const r = await fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(20000) }); console.log(r.status, (await r.text()).split('\\n')[0]);`;
    const { stdout } = await run('ip', ['netns', 'exec', net.ns, 'env', ...Object.entries(uplink.env).map(([k, v]) => `${k}=${v}`), process.execPath, '--input-type=module', '-e', code], { timeout: 30_000 });
    assert.match(stdout, /^200 Origin: Debian/);
    assert.ok(uplink.stats.tunnels >= 1);
    const direct = await run('ip', ['netns', 'exec', net.ns, 'curl', '-sS', '--max-time', '3', url]).then(() => 'ok', (e: Error) => e.message);
    assert.notEqual(direct, 'ok', 'the namespace itself has no way out');
  });

  it('curl -x works for the archive and is refused for another host', async () => {
    const proxy = `http://127.0.0.1:${uplink.port}`;
    const ok = await run('ip', ['netns', 'exec', net.ns, 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', '-x', proxy, `${mirror.href.replace(/\/+$/, '')}/dists/bookworm/Release`]);
    assert.equal(ok.stdout, '200');
    const refused = await run('ip', ['netns', 'exec', net.ns, 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', '-x', proxy, 'http://example.org/']);
    assert.equal(refused.stdout, '403');
    assert.ok(uplink.stats.refused >= 1);
  });
});
