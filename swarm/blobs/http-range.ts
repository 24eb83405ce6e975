// One byte range of an HTTP Range header (RFC 9110 §14.1.2): `bytes=a-b`, `bytes=a-`, `bytes=-n`.
// Several ranges are not needed by piece requests and are answered with the whole (as §14.2 allows)
// by returning undefined. Pure.

export type RangeResult = { start: number; end: number } | 'unsatisfiable' | undefined;

/** [start, end) of a resource of `size` bytes, undefined when there is no (single, parsable) range. */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a, b] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size };
  }
  const start = Number(a);
  const last = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || last < start) return 'unsatisfiable';
  return { start, end: last + 1 };
}
