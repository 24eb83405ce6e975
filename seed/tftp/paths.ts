// Confinement of requested file names to the TFTP root (pure part; symlinks are checked where the
// file is opened, in files.ts).
//
// Decision on backslashes: they are NORMALISED to "/" before any other check. Some PXE firmware
// and Windows-built pxelinux send `pxelinux.cfg\01-aa-bb-…`, and dnsmasq and tftp-hpa's usual
// remap rules do the same, so refusing them would break real clients. Normalising first means
// `..\..\etc\passwd` is seen as `../../etc/passwd` and refused like any other traversal.
//
// Refused (access violation): empty names, absolute paths (a leading "/" after normalisation, or a
// DOS drive "C:"), any "." or ".." segment, empty segments ("a//b"), NUL and other control bytes.
import { TftpErrorCode } from './packet.ts';

export type PathCheck =
  | { ok: true; path: string; segments: string[] }
  | { ok: false; code: TftpErrorCode; reason: string };

const MAX_NAME = 1024;

function refuse(reason: string): PathCheck {
  return { ok: false, code: TftpErrorCode.AccessViolation, reason };
}

export function checkPath(requested: string): PathCheck {
  if (requested.length === 0) return refuse('empty file name');
  if (requested.length > MAX_NAME) return refuse('file name too long');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(requested)) return refuse('control character (NUL, …) in file name');
  const name = requested.replaceAll('\\', '/');
  if (name.startsWith('/')) return refuse('absolute path');
  if (/^[A-Za-z]:/.test(name)) return refuse('absolute path (drive letter)');
  const segments = name.split('/');
  for (const seg of segments) {
    if (seg === '') return refuse('empty path segment');
    if (seg === '.' || seg === '..') return refuse(`"${seg}" path segment`);
  }
  return { ok: true, path: segments.join('/'), segments };
}
