// `--mirror`: which upstream archives the seed's mirror caches. `auto` (default): the host's apt
// sources; `off`: serve only what is cached (air gap); `URL` or `name=URL[,name=URL…]`. The name is
// the first path segment under /mirror/ (`/mirror/debian/dists/bookworm/InRelease`).
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { parseDeb822, parseOneLine, type AptSource } from './sources.ts';

function nameOf(url: string): string {
  const last = new URL(url).pathname.split('/').filter(Boolean).pop();
  return last && /^[A-Za-z0-9._-]+$/.test(last) ? last : 'debian';
}

export function parseMirrorSetting(text: string, hostSources: AptSource[]): Record<string, string> {
  const t = text.trim();
  if (t === 'off') return {};
  if (t === 'auto') {
    const out: Record<string, string> = {};
    for (const s of hostSources) {
      if (!/^https?:\/\//.test(s.uri)) continue;
      const url = s.uri.replace(/\/+$/, '');
      out[nameOf(url)] ??= url;
    }
    return out;
  }
  const out: Record<string, string> = {};
  for (const part of t.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const [name, url] = eq > 0 && !part.slice(0, eq).includes(':') ? [part.slice(0, eq), part.slice(eq + 1)] : [undefined, part];
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new LpmosError(ErrorCode.Usage, `--mirror: "${url}" is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new LpmosError(ErrorCode.Usage, `--mirror: "${url}" must be http:// or https://`);
    const n = name ?? nameOf(url);
    if (!/^[A-Za-z0-9._-]+$/.test(n) || n === '.' || n === '..') throw new LpmosError(ErrorCode.Usage, `--mirror: "${n}" is not a mirror name (letters, digits, ".", "_", "-")`);
    out[n] = url.replace(/\/+$/, '');
  }
  if (!Object.keys(out).length) throw new LpmosError(ErrorCode.Usage, '--mirror: give auto, off, a URL or name=URL,…');
  return out;
}

/** Reads the host's apt sources (I/O edge); missing files are no sources. */
export async function readHostSources(): Promise<AptSource[]> {
  const { readFile, readdir } = await import('node:fs/promises');
  const out: AptSource[] = [];
  const text = await readFile('/etc/apt/sources.list', 'utf8').catch(() => '');
  out.push(...parseOneLine(text));
  const dir = '/etc/apt/sources.list.d';
  for (const f of (await readdir(dir).catch(() => [])).sort()) {
    const body = await readFile(`${dir}/${f}`, 'utf8').catch(() => '');
    if (f.endsWith('.sources')) out.push(...parseDeb822(body));
    else if (f.endsWith('.list')) out.push(...parseOneLine(body));
  }
  return out;
}
