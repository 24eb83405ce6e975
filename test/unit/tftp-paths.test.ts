import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPath } from '../../seed/tftp/paths.ts';
import { TftpErrorCode } from '../../seed/tftp/packet.ts';
import { toNetascii } from '../../seed/tftp/files.ts';

const refused = (p: string): void => {
  const r = checkPath(p);
  assert.equal(r.ok, false, p);
  assert.equal(!r.ok && r.code, TftpErrorCode.AccessViolation, p);
};

test('plain relative names pass unchanged', () => {
  assert.deepEqual(checkPath('pxelinux.cfg/01-52-54-00-12-34-56'), { ok: true, path: 'pxelinux.cfg/01-52-54-00-12-34-56', segments: ['pxelinux.cfg', '01-52-54-00-12-34-56'] });
  assert.equal(checkPath('undionly.kpxe').ok, true);
  assert.equal(checkPath('a..b/c...d').ok, true); // dots inside a name are fine
});

test('backslashes are normalised to slashes (firmware sends pxelinux.cfg\\01-…)', () => {
  const r = checkPath('pxelinux.cfg\\01-52-54-00-12-34-56');
  assert.equal(r.ok && r.path, 'pxelinux.cfg/01-52-54-00-12-34-56');
});

test('traversal, absolute paths, empty segments, control bytes are refused', () => {
  for (const p of ['../etc/passwd', 'a/../../b', '..', '.', './a', 'a/./b', '/etc/passwd', '//x', '..\\..\\etc\\passwd', '\\etc\\passwd', 'C:\\boot.ini', 'c:x', 'a//b', 'a/', '', 'a\u0000b', 'a\nb', 'x'.repeat(2000)]) refused(p);
});

test('netascii conversion: LF → CR LF, CR → CR NUL', () => {
  assert.deepEqual(toNetascii(Buffer.from('a\nb\rc')), Buffer.from('a\r\nb\r\x00c', 'latin1'));
  const plain = Buffer.from('abc');
  assert.equal(toNetascii(plain), plain);
});
