// Reading and writing validated JSON records in the store. A record that fails its schema on read
// (written by a newer/older version, or by hand) is reported with its key, never silently used.
import type { z } from 'zod';
import { ErrorCode, LpmosError } from '../errors.ts';
import type { KeyValue, Store } from '../store/store.ts';
import { zodDetails } from '../model/documents.ts';

export interface Versioned<T> {
  value: T;
  modRevision: number;
}

export function decode<S extends z.ZodType>(schema: S, kv: KeyValue): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(kv.value);
  } catch (e) {
    throw new LpmosError(ErrorCode.Internal, `stored record ${kv.key} is not JSON: ${(e as Error).message}`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw new LpmosError(ErrorCode.Internal, `stored record ${kv.key} does not match its schema`, { details: zodDetails(r.error, kv.key) });
  return r.data;
}

export function encode(value: unknown): string {
  return JSON.stringify(value);
}

export async function read<S extends z.ZodType>(store: Store, schema: S, key: string, signal?: AbortSignal): Promise<Versioned<z.infer<S>> | undefined> {
  const kv = await store.get(key, signal ? { signal } : undefined);
  return kv ? { value: decode(schema, kv), modRevision: kv.modRevision } : undefined;
}

export function conflict(what: string): LpmosError {
  return new LpmosError(ErrorCode.Conflict, `${what} was changed by someone else at the same time; nothing was written — read it again and retry`);
}
