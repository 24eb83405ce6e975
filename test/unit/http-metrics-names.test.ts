import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSafeName } from '../../seed/http/artifacts.ts';
import { HttpMetrics } from '../../seed/http/metrics.ts';
import { route } from '../../seed/http/router.ts';

test('artifact names: relative, no dot segments, no backslash or control characters', () => {
  for (const ok of ['vmlinuz', 'initrd.img', 'agent/initrd.img', 'ldlinux.c32', '.hidden-but-listed']) assert.ok(isSafeName(ok), ok);
  for (const bad of ['', '/etc/passwd', '../x', 'a/../b', 'a/./b', 'a//b', 'a/', '.', '..', 'a\\b', 'a\u0000b', 'a\nb', 'x'.repeat(256)]) assert.ok(!isSafeName(bad), JSON.stringify(bad));
});

test('metrics: requests by route and status, bytes by route, in the Prometheus text format', () => {
  const m = new HttpMetrics();
  m.request('artifacts', 206, 10);
  m.request('artifacts', 206, 5);
  m.request('artifacts', 416, 40);
  m.request('boot_ipxe', 200, 900);
  assert.equal(m.requests('artifacts'), 3);
  assert.equal(m.requests('artifacts', 206), 2);
  assert.equal(m.bytes('artifacts'), 55);
  const text = m.render();
  assert.match(text, /^# HELP lpmos_http_requests_total /m);
  assert.match(text, /^# TYPE lpmos_http_requests_total counter$/m);
  assert.match(text, /^lpmos_http_requests_total\{route="artifacts",status="206"\} 2$/m);
  assert.match(text, /^lpmos_http_requests_total\{route="artifacts",status="416"\} 1$/m);
  assert.match(text, /^lpmos_http_sent_bytes_total\{route="artifacts"\} 55$/m);
  assert.match(text, /^lpmos_http_requests_in_flight 0$/m);
  assert.ok(text.endsWith('\n'));
});

test('routes: a fixed set of names, whatever the path', () => {
  const name = (p: string) => route(p)?.name;
  assert.equal(name('/boot.ipxe'), 'boot_chain');
  assert.equal(name('/boot/ipxe'), 'boot_ipxe');
  assert.equal(name('/boot/grub.cfg'), 'boot_grub');
  assert.equal(name('/boot/grub/grub.cfg-01-52-54-00-12-34-56'), 'boot_grub');
  assert.equal(name('/boot/pxelinux.cfg/01-52-54-00-12-34-56'), 'boot_pxelinux');
  assert.equal(name('/boot/pxelinux.cfg/C0A8'), 'boot_pxelinux'); // answered 404 so pxelinux goes on
  assert.equal(name('/artifacts/vmlinuz'), 'artifacts');
  assert.equal(name('/artifacts/'), undefined);
  assert.equal(name('/healthz'), 'healthz');
  assert.equal(name('/metrics'), 'metrics');
  assert.equal(name('/boot/ipxe/'), undefined);
  assert.equal(name('/etc/passwd'), undefined);
});
