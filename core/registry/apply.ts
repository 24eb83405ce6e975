// `lpmos apply -f`: profiles and machines from one or many documents, validated first (schemas,
// references between documents and to the store, MACs unique), then written in one transaction
// with compare-and-swap on everything that was read. Either all of it lands or nothing does.
import { ErrorCode, LpmosError, type ErrorDetail } from '../errors.ts';
import type { Keys } from '../keys.ts';
import type { Compare, Operation, Store } from '../store/store.ts';
import type { Document } from '../model/documents.ts';
import { machineSchema, type Machine } from '../model/machine.ts';
import { conflict, encode, read } from './records.ts';
import { machineWrite } from './machines.ts';

export interface ApplyResult {
  kind: 'Profile' | 'Machine';
  name: string;
  result: 'created' | 'configured' | 'unchanged';
}

/** etcd's default --max-txn-ops; a larger apply is refused rather than split into non-atomic parts. */
export const MAX_TXN_OPS = 128;

export interface ApplyOptions {
  now?: Date;
  /** The cluster's --max-txn-ops (the seed's managed etcd allows more than etcd's default). */
  maxTxnOps?: number;
}

export async function applyDocuments(store: Store, keys: Keys, docs: Document[], options: ApplyOptions = {}): Promise<ApplyResult[]> {
  const now = options.now ?? new Date();
  const maxTxnOps = options.maxTxnOps ?? MAX_TXN_OPS;
  const compares: Compare[] = [];
  const ops: Operation[] = [];
  const results: ApplyResult[] = [];
  const details: ErrorDetail[] = [];
  let duplicates = 0;
  const profilesInApply = new Set(docs.filter((d) => d.kind === 'Profile').map((d) => d.name));
  const macOwner = new Map<string, string>();

  for (const doc of docs) {
    if (doc.kind === 'Profile') {
      const current = await store.get(keys.profile(doc.name));
      const value = encode(doc);
      compares.push({ key: keys.profile(doc.name), modRevision: current?.modRevision ?? 0 });
      if (current?.value !== value) ops.push({ type: 'put', key: keys.profile(doc.name), value });
      results.push({ kind: 'Profile', name: doc.name, result: !current ? 'created' : current.value === value ? 'unchanged' : 'configured' });
      continue;
    }
    const { spec, ...identity } = doc;
    for (const mac of identity.macs) {
      const other = macOwner.get(mac);
      if (other) {
        details.push({ path: `machine/${doc.name}: macs`, message: `${mac} is also given to machine "${other}" in this apply` });
        duplicates++;
      }
      macOwner.set(mac, doc.name);
    }
    const current = await read(store, machineSchema, keys.machine(doc.name));
    const next: Machine = { ...identity, createdAt: current?.value.createdAt ?? now.toISOString() };
    if (current?.value.location && !next.location) next.location = current.value.location;
    try {
      const w = await machineWrite(store, keys, next, current);
      compares.push(...w.compares);
      const unchanged = current !== undefined && encode(current.value) === encode(next);
      if (!unchanged) ops.push(...w.ops);
      let result: ApplyResult['result'] = !current ? 'created' : unchanged ? 'unchanged' : 'configured';
      if (spec) {
        if (spec.profile && !profilesInApply.has(spec.profile)) {
          const p = await store.get(keys.profile(spec.profile));
          if (!p) details.push({ path: `machine/${doc.name}: spec.profile`, message: `unknown profile "${spec.profile}"` });
          else compares.push({ key: keys.profile(spec.profile), modRevision: p.modRevision });
        }
        const currentSpec = await store.get(keys.spec(doc.name));
        compares.push({ key: keys.spec(doc.name), modRevision: currentSpec?.modRevision ?? 0 });
        const { updatedAt: _old, ...prev } = currentSpec ? (JSON.parse(currentSpec.value) as { updatedAt?: string }) : {};
        if (!currentSpec || encode(prev) !== encode({ ...spec, updatedAt: undefined })) {
          ops.push({ type: 'put', key: keys.spec(doc.name), value: encode({ ...spec, updatedAt: now.toISOString() }) });
          if (result === 'unchanged') result = 'configured';
        }
      }
      results.push({ kind: 'Machine', name: doc.name, result });
    } catch (e) {
      if (!(e instanceof LpmosError && e.code === ErrorCode.Duplicate)) throw e;
      details.push(...e.details);
      duplicates += e.details.length;
    }
  }
  if (details.length) {
    throw new LpmosError(duplicates === details.length ? ErrorCode.Duplicate : ErrorCode.Validation, `${details.length} problem(s); nothing was written`, { details });
  }
  if (ops.length === 0) return results;
  const needed = Math.max(compares.length, ops.length);
  if (needed > maxTxnOps) {
    throw new LpmosError(ErrorCode.Validation, `this apply needs ${needed} operations in one transaction, more than the cluster allows (--max-txn-ops ${maxTxnOps}); apply it in smaller files`);
  }
  const r = await store.txn(compares, ops);
  if (!r.succeeded) throw conflict('one of the applied objects');
  return results;
}
