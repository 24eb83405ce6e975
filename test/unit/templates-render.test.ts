import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isLpmosError } from '../../core/errors.ts';
import { compileTemplate, renderTemplate } from '../../templates/render.ts';
import { menuContext, type BootMenuConfig, type MachineBoot } from '../../seed/tftp/boot-menus.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'templates');

/** Compares with test/fixtures/templates/<name>; UPDATE_GOLDEN=1 rewrites the file instead. */
function golden(name: string, actual: string): void {
  const file = join(FIXTURES, name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
  assert.equal(actual, readFileSync(file, 'utf8'), `${name} differs from its golden file (UPDATE_GOLDEN=1 to accept)`);
}

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

const cfg: BootMenuConfig = { httpBase: 'http://10.213.16.1:8080', agentKernel: '/boot/agent/vmlinuz', agentInitrd: '/boot/agent/initrd.img', cmdline: 'console=ttyS0,115200' };
const install: MachineBoot = { id: 'web-01', mac: '52:54:00:12:34:56', action: 'install', kernelCmdline: 'lpmos.debug=1' };
const local: MachineBoot = { id: 'web-01', mac: '52:54:00:12:34:56', action: 'localboot' };

test('golden: pxelinux menus for install, localboot and an unknown machine', () => {
  golden('pxelinux-install.cfg', renderTemplate('pxelinux.cfg', menuContext(cfg, install)));
  golden('pxelinux-localboot.cfg', renderTemplate('pxelinux.cfg', menuContext(cfg, local)));
  golden('pxelinux-discover.cfg', renderTemplate('pxelinux.cfg', menuContext(cfg, undefined)));
});

test('golden: GRUB menus for install, localboot and an unknown machine', () => {
  golden('grub-install.cfg', renderTemplate('grub.cfg', menuContext(cfg, install)));
  golden('grub-localboot.cfg', renderTemplate('grub.cfg', menuContext(cfg, local)));
  golden('grub-discover.cfg', renderTemplate('grub.cfg', menuContext(cfg, undefined)));
});
