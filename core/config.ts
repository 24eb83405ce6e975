// One typed config per command (DESIGN §5.7): from defaults, a config file (YAML, keys spelled as the
// flags: `state-dir: /srv/lpmos`), LPMOS_* environment variables and flags — later ones win. An error
// names where the bad value came from: the flag, the variable, or the key in the file.
import { z } from 'zod';
import { ErrorCode, LpmosError, type ErrorDetail } from './errors.ts';

export const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const envName = (key: string): string => `LPMOS_${kebab(key).replaceAll('-', '_').toUpperCase()}`;

export interface ConfigSources {
  /** Values given on the command line, by camelCase key (only those the user typed). */
  flags: Record<string, unknown>;
  env: Record<string, string | undefined>;
  /** Parsed config file (kebab-case keys as the flags), and its path for messages. */
  file?: { path: string; values: Record<string, unknown> };
}

/** Where a value came from, as the operator would name it. */
type Origin = string;

export function resolveConfig<S extends z.ZodObject>(schema: S, sources: ConfigSources): z.infer<S> {
  const keys = Object.keys(schema.shape);
  const raw: Record<string, unknown> = {};
  const origin = new Map<string, Origin>();
  const details: ErrorDetail[] = [];
  if (sources.file) {
    for (const [k, v] of Object.entries(sources.file.values)) {
      const key = keys.find((c) => kebab(c) === k || c === k);
      if (!key) {
        details.push({ path: `${sources.file.path}: ${k}`, message: `unknown setting (known: ${keys.map(kebab).join(', ')})` });
        continue;
      }
      raw[key] = v;
      origin.set(key, `"${k}" in ${sources.file.path}`);
    }
  }
  for (const key of keys) {
    const v = sources.env[envName(key)];
    if (v !== undefined && v !== '') {
      raw[key] = v;
      origin.set(key, `${envName(key)} (environment)`);
    }
  }
  for (const [key, v] of Object.entries(sources.flags)) {
    if (!keys.includes(key) || v === undefined) continue;
    raw[key] = v;
    origin.set(key, `--${kebab(key)}`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    for (const i of r.error.issues) {
      const key = String(i.path[0] ?? '');
      details.push({ path: origin.get(key) ?? `--${kebab(key)}`, message: i.message });
    }
  }
  if (details.length) throw new LpmosError(ErrorCode.Usage, 'invalid configuration', { details });
  return r.data as z.infer<S>;
}

/** Numbers and booleans from environment variables and files arrive as text. */
export const intSetting = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
export const boolSetting = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v))]);
