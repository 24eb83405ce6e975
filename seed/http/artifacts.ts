// The artifacts the seed serves: files listed in the manifest.json of each artifact directory
// (`lpmos boot assets`, `lpmos boot ramdisk`). A request names an artifact, never a path: names and
// hashes are looked up here, and only a file the manifest lists (a regular file inside its directory,
// symlinks resolved, with the listed size) can be sent. A manifest rewritten on disk (a rebuilt
// ramdisk) is picked up at the next request without restarting the seed.
import { realpath, readFile, stat } from 'node:fs/promises';
import { join, relative, isAbsolute, sep } from 'node:path';
import { z } from 'zod';
import { ErrorCode, LpmosError } from '../../core/errors.ts';

export const MANIFEST_NAME = 'manifest.json';

export interface Artifact {
  name: string;
  sha256: string;
  size: number;
  /** The directory's real path and the file relative to it (what `send` gets as root and path). */
  root: string;
  rel: string;
}

/** Entries as `lpmos boot assets` writes them (`file`) or as the brief names them (`name`); extra fields are kept out. */
const entrySchema = z
  .object({ name: z.string().optional(), file: z.string().optional(), sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits'), size: z.number().int().min(0) })
  .refine((e) => (e.name ?? e.file) !== undefined, { message: 'needs "name" (or "file")' });
/** `lpmos boot ramdisk` writes `{ kind: 'lpmos-agent-ramdisk', kernel: {file, sha256, size, …}, initrd: {…}, stage0?: {…} }`. */
const ramdiskManifestSchema = z.object({ kind: z.literal('lpmos-agent-ramdisk'), kernel: entrySchema, initrd: entrySchema, stage0: entrySchema.optional() });
const manifestSchema = z.union([z.array(entrySchema), z.object({ files: z.array(entrySchema) }), ramdiskManifestSchema]);

/** NUL and the other C0 controls, DEL: never in a name (NUL would cut a path short in C code below us). */
export function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** A name as it may appear in a manifest and a URL: relative, no `.`/`..` or empty segment, no backslash or control character. */
export function isSafeName(name: string): boolean {
  if (name.length === 0 || name.length > 255 || name.startsWith('/') || name.includes('\\')) return false;
  if (hasControl(name)) return false;
  return name.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

async function loadDir(dir: string): Promise<{ artifacts: Artifact[]; mtimeMs: number }> {
  const where = `${dir}/${MANIFEST_NAME}`;
  let root: string;
  let text: string;
  let mtimeMs: number;
  try {
    root = await realpath(dir);
    const file = join(root, MANIFEST_NAME);
    mtimeMs = (await stat(file)).mtimeMs;
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new LpmosError(ErrorCode.Validation, `artifacts ${where}: ${(e as Error).message}`, { cause: e });
  }
  let parsed: z.infer<typeof manifestSchema>;
  try {
    parsed = manifestSchema.parse(JSON.parse(text));
  } catch (e) {
    throw new LpmosError(ErrorCode.Parse, `artifacts ${where} is not a manifest (JSON with files: [{name, sha256, size}]): ${(e as Error).message.slice(0, 300)}`, { cause: e });
  }
  const entries = Array.isArray(parsed) ? parsed : 'files' in parsed ? parsed.files : [parsed.kernel, parsed.initrd, ...(parsed.stage0 ? [parsed.stage0] : [])];
  const artifacts: Artifact[] = [];
  for (const e of entries) {
    const name = (e.name ?? e.file) as string;
    if (!isSafeName(name)) throw new LpmosError(ErrorCode.Validation, `artifacts ${where}: name "${name}" is not a safe relative name`);
    let real: string;
    try {
      real = await realpath(join(root, name));
    } catch (e2) {
      throw new LpmosError(ErrorCode.Validation, `artifacts ${where}: "${name}" is listed but missing: ${(e2 as Error).message}`);
    }
    const rel = relative(root, real);
    if (rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) throw new LpmosError(ErrorCode.Validation, `artifacts ${where}: "${name}" points outside ${root}`);
    const st = await stat(real);
    if (!st.isFile()) throw new LpmosError(ErrorCode.Validation, `artifacts ${where}: "${name}" is not a regular file`);
    if (st.size !== e.size) throw new LpmosError(ErrorCode.Validation, `artifacts ${where}: "${name}" has ${st.size} bytes, the manifest says ${e.size}: rebuild the manifest`);
    artifacts.push({ name, sha256: e.sha256.toLowerCase(), size: e.size, root, rel });
  }
  return { artifacts, mtimeMs };
}

export class ArtifactIndex {
  readonly dirs: readonly string[];
  #byName = new Map<string, Artifact>();
  #bySha = new Map<string, Artifact>();
  #mtimes: number[] = [];
  #reloading: Promise<void> | undefined;

  constructor(dirs: readonly string[]) {
    this.dirs = dirs;
  }

  /** Reads every manifest; throws (naming the file) on a bad one, on a name two directories give different contents. */
  async load(): Promise<void> {
    const loaded = await Promise.all(this.dirs.map(loadDir));
    const byName = new Map<string, Artifact>();
    const bySha = new Map<string, Artifact>();
    for (const [i, { artifacts }] of loaded.entries()) {
      for (const a of artifacts) {
        const prev = byName.get(a.name);
        if (prev && prev.sha256 !== a.sha256) throw new LpmosError(ErrorCode.Conflict, `artifact "${a.name}" is in ${prev.root} and ${this.dirs[i]} with different contents`);
        if (!prev) byName.set(a.name, a);
        if (!bySha.has(a.sha256)) bySha.set(a.sha256, a);
      }
    }
    this.#byName = byName;
    this.#bySha = bySha;
    this.#mtimes = loaded.map((l) => l.mtimeMs);
  }

  /** Reloads when a manifest changed on disk; a broken new manifest keeps the old index (and throws for the log). */
  async refresh(): Promise<void> {
    if (this.#reloading) return this.#reloading;
    const changed = await Promise.all(this.dirs.map(async (d, i) => (await stat(join(d, MANIFEST_NAME)).catch(() => undefined))?.mtimeMs !== this.#mtimes[i]));
    if (!changed.some(Boolean)) return;
    this.#reloading = this.load().finally(() => (this.#reloading = undefined));
    return this.#reloading;
  }

  byName(name: string): Artifact | undefined {
    return this.#byName.get(name);
  }

  bySha256(hex: string): Artifact | undefined {
    return this.#bySha.get(hex.toLowerCase());
  }

  get size(): number {
    return this.#byName.size;
  }
}
