import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isLpmosError } from '../../core/errors.ts';
import { compileTemplate, renderTemplate } from '../../templates/render.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'templates');

/** Compares with test/fixtures/templates/<name>; UPDATE_GOLDEN=1 rewrites the file instead. */
function golden(name: string, actual: string): void {
  const file = join(FIXTURES, name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
  assert.equal(actual, readFileSync(file, 'utf8'), `${name} differs from its golden file (UPDATE_GOLDEN=1 to accept)`);
}

test('a template missing a field of its context fails loudly', () => {
  const { initrd: _dropped, ...agentWithoutInitrd } = install.agent;
  assert.throws(() => renderTemplate('pxelinux.cfg', { ...install, agent: agentWithoutInitrd }), (e: unknown) => isLpmosError(e) && /template pxelinux\.cfg: "initrd" not defined/.test(e.message));
});

test('strict mode: a missing field throws, naming the template', () => {
  const t = compileTemplate('t', 'kernel {{agent.kernel}}');
  assert.throws(() => t({ agent: {} }), (e: unknown) => isLpmosError(e) && /template t: "kernel" not defined/.test(e.message));
  assert.throws(() => t({}), (e: unknown) => isLpmosError(e) && e.message.startsWith('template t:'));
});

test('no HTML escaping: kernel arguments and URLs come out verbatim', () => {
  assert.equal(compileTemplate('t', '{{a}}')({ a: 'x=<1>&y="2" \'3\'' }), 'x=<1>&y="2" \'3\'');
});

test('a syntax error fails at compile time, not at first use', () => {
  assert.throws(() => compileTemplate('broken', 'a {{#if x}} b'), (e: unknown) => isLpmosError(e) && e.message.startsWith('template broken:'));
});

test('an unknown template name or file fails loudly', () => {
  assert.throws(() => renderTemplate('../etc/passwd', {}), /not valid/);
  assert.throws(() => renderTemplate('no-such-template', {}), /template no-such-template: cannot read|ENOENT/);
});

// The templates' own contract (the context seed/http/boot-scripts.ts builds), independent of its callers.
const agent = (action: string, machine?: string) => ({
  kernel: 'http://10.213.16.1:8080/artifacts/vmlinuz',
  initrd: 'http://10.213.16.1:8080/artifacts/initrd.img',
  grubKernel: '(http,10.213.16.1:8080)/artifacts/vmlinuz',
  grubInitrd: '(http,10.213.16.1:8080)/artifacts/initrd.img',
  cmdline: `lpmos.seed=http://10.213.16.1:8080${machine ? ` lpmos.machine=${machine}` : ''} lpmos.action=${action} console=ttyS0,115200`,
});
const install = { title: 'machine web-01 (52:54:00:12:34:56)', action: 'install', localboot: false, agent: agent('install', 'web-01') };
const local = { title: 'machine web-01 (52:54:00:12:34:56)', action: 'localboot', localboot: true, agent: agent('localboot', 'web-01') };
const unknown = { title: 'an unknown machine', action: 'discover', localboot: false, agent: agent('discover') };

test('golden: pxelinux menus for install, localboot and an unknown machine', () => {
  golden('pxelinux-install.cfg', renderTemplate('pxelinux.cfg', install));
  golden('pxelinux-localboot.cfg', renderTemplate('pxelinux.cfg', local));
  golden('pxelinux-discover.cfg', renderTemplate('pxelinux.cfg', unknown));
});

test('golden: GRUB menus for install, localboot and an unknown machine', () => {
  golden('grub-install.cfg', renderTemplate('grub.cfg', install));
  golden('grub-localboot.cfg', renderTemplate('grub.cfg', local));
  golden('grub-discover.cfg', renderTemplate('grub.cfg', unknown));
});
