// Pure: what the agent's apt proxy reads in the archive's index files. A Release (or the clearsigned
// InRelease) lists every index file of a suite with its SHA256 and size; a Packages index lists every
// package file (Filename) with its SHA256 and size. Those are the content addresses the blob
// exchange fetches by. The proxy passes the index files through untouched, so apt and debootstrap
// still verify the Release signature and every hash themselves.
import type { BlobRef } from '../swarm/blobs/api.ts';

/** `path relative to dists/<suite>/` → hash and size, from a Release's SHA256 field. */
export function parseRelease(text: string): Map<string, BlobRef> {
  const out = new Map<string, BlobRef>();
  let inSha = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith('-----BEGIN PGP SIGNATURE')) break;
    if (line.startsWith(' ')) {
      if (!inSha) continue;
      const m = /^\s+([0-9a-f]{64})\s+(\d+)\s+(\S+)\s*$/.exec(line);
      if (m) out.set(m[3]!, { sha256: m[1]!, size: Number(m[2]) });
      continue;
    }
    inSha = /^SHA256:\s*$/.test(line);
  }
  return out;
}

export interface PackageFile extends BlobRef {
  /** Relative to the archive root: `pool/main/b/bash/bash_5.2.15-2+b2_amd64.deb`. */
  filename: string;
}

/**
 * A Packages index fed in chunks of text (it is 50 MB uncompressed for Debian main): calls `onFile`
 * for every stanza that has Filename, Size and SHA256. Continuation lines are skipped.
 */
export class PackagesParser {
  readonly #onFile: (f: PackageFile) => void;
  #rest = '';
  #filename: string | undefined;
  #size: number | undefined;
  #sha: string | undefined;
  files = 0;

  constructor(onFile: (f: PackageFile) => void) {
    this.#onFile = onFile;
  }

  push(text: string): void {
    const s = this.#rest + text;
    let start = 0;
    for (let nl = s.indexOf('\n'); nl >= 0; nl = s.indexOf('\n', start)) {
      this.#line(s.slice(start, nl));
      start = nl + 1;
    }
    this.#rest = s.slice(start);
  }

  end(): void {
    if (this.#rest) this.#line(this.#rest);
    this.#rest = '';
    this.#stanzaEnd();
  }

  #line(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') return this.#stanzaEnd();
    const c = line.charCodeAt(0);
    if (c === 32 || c === 9) return; // continuation of a multi-line field
    const colon = line.indexOf(':');
    if (colon <= 0) return;
    const field = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (field === 'Filename') this.#filename = value;
    else if (field === 'Size') this.#size = Number(value);
    else if (field === 'SHA256') this.#sha = value.toLowerCase();
  }

  #stanzaEnd(): void {
    const f = this.#filename;
    const size = this.#size;
    const sha = this.#sha;
    this.#filename = this.#size = this.#sha = undefined;
    if (!f || sha === undefined || !/^[0-9a-f]{64}$/.test(sha) || size === undefined || !Number.isSafeInteger(size) || size < 0) return;
    // Only plain relative paths: the proxy looks requests up by exactly this text.
    if (f.startsWith('/') || f.split('/').some((p) => p === '..' || p === '.' || p === '')) return;
    this.files++;
    this.#onFile({ filename: f, sha256: sha, size });
  }
}

/** What a request under a mirror is, for the proxy. */
export type MirrorRequest =
  | { kind: 'package'; path: string }
  | { kind: 'release'; suite: string; path: string }
  /** A Packages index (by name, or by hash: `file` is then undefined until the Release names it). */
  | { kind: 'packages'; suite: string; component: string; arch: string; file?: string; byHash?: string; path: string }
  | { kind: 'other-index'; path: string }
  | { kind: 'other'; path: string };

/** Classifies a path relative to one mirror's root (`dists/bookworm/InRelease`, `pool/…`). */
export function classifyRequest(path: string): MirrorRequest {
  if (path.startsWith('pool/')) return { kind: 'package', path };
  const d = /^dists\/([^/]+)\/(.+)$/.exec(path);
  if (!d) return { kind: 'other', path };
  const suite = d[1]!;
  const rest = d[2]!;
  if (rest === 'InRelease' || rest === 'Release') return { kind: 'release', suite, path };
  const p = /^(.+)\/binary-([^/]+)\/(?:(Packages(?:\.gz|\.xz)?)|by-hash\/SHA256\/([0-9a-f]{64}))$/.exec(rest);
  if (p) {
    return { kind: 'packages', suite, component: p[1]!, arch: p[2]!, ...(p[3] ? { file: p[3] } : {}), ...(p[4] ? { byHash: p[4] } : {}), path };
  }
  return { kind: 'other-index', path };
}

/** The compression of a Packages index by its first bytes (by-hash files have no suffix). */
export function compressionOf(bytes: Uint8Array): 'gz' | 'xz' | 'none' {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gz';
  if (bytes[0] === 0xfd && bytes[1] === 0x37 && bytes[2] === 0x7a && bytes[3] === 0x58 && bytes[4] === 0x5a) return 'xz';
  return 'none';
}
