// What a mirror request asks for. Index files (dists/…) change and are kept as fetched, so apt
// still verifies the signed Release end to end; pool files and by-hash files never change once
// published, so they are cached for good and stored by sha256.
import { ErrorCode, LpmosError } from '../../core/errors.ts';

export type MirrorPathKind = 'index' | 'immutable';

export function classifyMirrorPath(path: string): { path: string; kind: MirrorPathKind } {
  let p: string;
  try {
    p = decodeURIComponent(path);
  } catch {
    throw new LpmosError(ErrorCode.Validation, `mirror path "${path}" is not valid percent-encoding`);
  }
  p = p.replace(/^\/+/, '');
  const parts = p.split('/');
  if (!p || p.includes('\0') || p.includes('\\') || parts.some((s) => s === '..' || s === '.' || s === '')) {
    throw new LpmosError(ErrorCode.Validation, `mirror path "${path}" is not a plain relative path`);
  }
  if (parts[0] === 'pool') return { path: p, kind: 'immutable' };
  if (parts[0] === 'dists') return { path: p, kind: parts.includes('by-hash') ? 'immutable' : 'index' };
  throw new LpmosError(ErrorCode.NotFound, `mirror path "${path}" is neither under dists/ nor pool/`);
}
