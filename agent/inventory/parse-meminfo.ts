// /proc/meminfo: `MemTotal:       24684092 kB`. The kernel's "kB" is KiB (proc(5)).

/** MemTotal in bytes, or null when the line is missing or malformed. */
export function parseMeminfo(text: string): number | null {
  const m = /^MemTotal:\s*(\d+)\s*(kB)?\s*$/m.exec(text);
  if (!m) return null;
  const n = Number(m[1]) * (m[2] ? 1024 : 1);
  return Number.isSafeInteger(n) ? n : null;
}
