// The host's apt sources (one-line `sources.list` and deb822 `*.sources`), to pick the default
// upstream of the seed's mirror: the first `deb` URI that carries a release suite (not -security).
export interface AptSource {
  uri: string;
  suites: string[];
  components: string[];
}

export function parseOneLine(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line.startsWith('deb ')) continue;
    const words = line.slice(4).replace(/\[[^\]]*\]/, '').trim().split(/\s+/);
    const [uri, suite, ...components] = words;
    if (uri && suite) out.push({ uri, suites: [suite], components });
  }
  return out;
}

export function parseDeb822(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const raw of stanza.split('\n')) {
      if (raw.startsWith('#')) continue;
      if (/^\s/.test(raw) && last) {
        fields.set(last, `${fields.get(last) ?? ''} ${raw.trim()}`);
        continue;
      }
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (m?.[1]) fields.set((last = m[1].toLowerCase()), m[2] ?? '');
    }
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
    const words = (k: string) => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
    for (const uri of words('uris')) out.push({ uri, suites: words('suites'), components: words('components') });
  }
  return out;
}

export function defaultUpstream(sources: AptSource[]): string | undefined {
  const s = sources.find((x) => x.suites.some((suite) => !suite.endsWith('-security')) && /^https?:\/\//.test(x.uri));
  return s?.uri.replace(/\/+$/, '');
}
