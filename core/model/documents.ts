// Parsing operator documents (YAML or JSON, one or many per file) into validated objects.
// Everything is validated before anything is written: one bad document fails the whole apply.
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { ErrorCode, LpmosError, type ErrorDetail } from '../errors.ts';
import { profileSchema, type Profile } from './profile.ts';
import { machineDocumentSchema, type MachineDocument } from './machine.ts';

export type Document = ({ kind: 'Profile' } & Profile) | ({ kind: 'Machine' } & MachineDocument);

const schemas = { Profile: profileSchema, Machine: machineDocumentSchema } as const;
type Kind = keyof typeof schemas;

/** `a.b[2].c` from a zod issue path. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

export function zodDetails(error: z.ZodError, where: string): ErrorDetail[] {
  return error.issues.map((i) => ({ path: i.path.length ? `${where}: ${formatPath(i.path)}` : where, message: i.message }));
}

/** Raw objects from YAML or JSON text (a YAML stream of documents, or a JSON object/array). */
export function parseObjects(text: string, source: string): unknown[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      const v: unknown = JSON.parse(text);
      return Array.isArray(v) ? v : [v];
    } catch (e) {
      throw new LpmosError(ErrorCode.Parse, `${source} is not valid JSON: ${(e as Error).message}`);
    }
  }
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  list.forEach((d, i) => {
    if (d.errors.length) {
      throw new LpmosError(ErrorCode.Parse, `${source} is not valid YAML (document ${i + 1})`, {
        details: d.errors.map((e) => ({ path: `${source}#${i + 1}`, message: e.message.split('\n')[0] ?? e.message })),
      });
    }
    const v: unknown = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  });
  return out;
}

function describe(obj: unknown, index: number, source: string): string {
  const o = obj as { kind?: unknown; name?: unknown };
  const kind = typeof o?.kind === 'string' ? o.kind : 'document';
  const name = typeof o?.name === 'string' ? `/${o.name}` : '';
  return `${source}#${index + 1} (${kind}${name})`;
}

/**
 * Validates every object; throws one E_VALIDATION listing every problem in every document,
 * each naming the document and field.
 */
export function validateDocuments(objects: unknown[], source: string, only?: Kind): Document[] {
  const details: ErrorDetail[] = [];
  const docs: Document[] = [];
  objects.forEach((obj, i) => {
    const where = describe(obj, i, source);
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      details.push({ path: where, message: 'must be an object with a "kind" (Profile or Machine)' });
      return;
    }
    const kind = (obj as { kind?: unknown }).kind;
    if (kind !== 'Profile' && kind !== 'Machine') {
      details.push({ path: `${where}: kind`, message: `must be "Profile" or "Machine", got ${JSON.stringify(kind)}` });
      return;
    }
    if (only && kind !== only) {
      details.push({ path: `${where}: kind`, message: `expected ${only} here, got ${kind}` });
      return;
    }
    const r = schemas[kind].safeParse(obj);
    if (!r.success) details.push(...zodDetails(r.error, where));
    else docs.push(r.data as Document);
  });
  const seen = new Map<string, number>();
  docs.forEach((d, i) => {
    const k = `${d.kind}/${d.name}`;
    if (seen.has(k)) details.push({ path: `${source}: ${k}`, message: `defined twice (documents ${(seen.get(k) ?? 0) + 1} and ${i + 1})` });
    seen.set(k, i);
  });
  if (details.length) throw new LpmosError(ErrorCode.Validation, `${source}: ${details.length} problem(s); nothing was written`, { details });
  if (docs.length === 0) throw new LpmosError(ErrorCode.Validation, `${source} holds no documents; nothing was written`);
  return docs;
}
