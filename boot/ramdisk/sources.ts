// The host's apt sources, read as they are (the builder keeps only the Debian archive entries: spec.ts).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** [text, isDeb822]: the deb822 `.sources` files when there are any, else the one-line `.list` files. */
export async function hostSourcesText(etc = '/etc/apt'): Promise<[string, boolean]> {
  const dir = join(etc, 'sources.list.d');
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  const deb822 = names.filter((n) => n.endsWith('.sources'));
  if (deb822.length > 0) return [(await Promise.all(deb822.map((n) => readFile(join(dir, n), 'utf8')))).join('\n\n'), true];
  const lists = [join(etc, 'sources.list'), ...names.filter((n) => n.endsWith('.list')).map((n) => join(dir, n))];
  return [(await Promise.all(lists.map((p) => readFile(p, 'utf8').catch(() => '')))).join('\n'), false];
}
