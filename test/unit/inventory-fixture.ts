// Reads a captured tool output from test/fixtures/inventory/.
import { readFileSync } from 'node:fs';

export function fixture(path: string): string {
  return readFileSync(new URL(`../fixtures/inventory/${path}`, import.meta.url), 'utf8');
}
