// Reading `-f FILE` (YAML or JSON; `-` for standard input) into validated documents.
import { readFile } from 'node:fs/promises';
import { ErrorCode, LpmosError } from '../core/errors.ts';
import { parseObjects, validateDocuments, type Document } from '../core/model/documents.ts';

async function readSource(file: string): Promise<string> {
  try {
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    }
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new LpmosError(ErrorCode.Usage, `cannot read ${file}: ${(e as Error).message}`);
  }
}

/** Every file is parsed and validated before anything is written. */
export async function loadDocuments(files: string[], only?: 'Profile' | 'Machine'): Promise<Document[]> {
  const docs: Document[] = [];
  for (const file of files) {
    const source = file === '-' ? 'stdin' : file;
    docs.push(...validateDocuments(parseObjects(await readSource(file), source), source, only));
  }
  return docs;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
