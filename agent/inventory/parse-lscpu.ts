// `lscpu -J` (util-linux ≥ 2.30) into CPU facts. Also accepts lscpu's plain text, which is what
// most public captures show. JSON comes flat (`[{field, data}]`, util-linux < 2.37) or nested
// (`children` under "Vendor ID:" and "Model name:", ≥ 2.37); both are flattened first.
import type { Cpu } from '../../core/model/inventory.ts';
import { clean, keyValueLines, toCount } from './text.ts';

interface LscpuEntry { field?: unknown; data?: unknown; children?: unknown }

function flatten(entries: unknown, into: Map<string, string>): void {
  if (!Array.isArray(entries)) return;
  for (const e of entries as LscpuEntry[]) {
    if (e === null || typeof e !== 'object') continue;
    if (typeof e.field === 'string') {
      const key = e.field.trim().replace(/:$/, '').trim();
      if (key !== '' && !into.has(key)) into.set(key, typeof e.data === 'string' ? e.data : String(e.data ?? ''));
    }
    flatten(e.children, into);
  }
}

/** Field name (without the colon) → value. */
export function lscpuFields(output: string): Map<string, string> {
  const trimmed = output.trimStart();
  if (trimmed.startsWith('{')) {
    const fields = new Map<string, string>();
    const doc = JSON.parse(trimmed) as { lscpu?: unknown };
    flatten(doc.lscpu, fields);
    return fields;
  }
  return keyValueLines(output);
}

export function parseLscpu(output: string): Cpu {
  const f = lscpuFields(output);
  const sockets = toCount(f.get('Socket(s)'));
  const perSocket = toCount(f.get('Core(s) per socket'));
  const threads = toCount(f.get('CPU(s)'));
  return {
    model: clean(f.get('Model name')),
    vendor: clean(f.get('Vendor ID')),
    arch: clean(f.get('Architecture')),
    sockets,
    cores: sockets !== null && perSocket !== null ? sockets * perSocket : null,
    threads,
  };
}
