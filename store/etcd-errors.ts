// Translates the etcd3 client's errors into LpmosError codes once, at the store's edge, so
// callers only ever see E_UNAVAILABLE (cannot reach or authenticate to the cluster),
// E_COMPACTED, E_NOT_FOUND (lease), E_VALIDATION (malformed txn) or E_INTERNAL.
import {
  ClientClosedError, EtcdAuthenticationFailedError, EtcdInvalidAuthTokenError, EtcdLeaseInvalidError,
  EtcdPermissionDeniedError, GRPCDeadlineExceededError, GRPCResourceExhastedError, GRPCUnauthenticatedError, GRPCUnavailableError,
  castGrpcError, isRecoverableError,
} from 'etcd3';
import { isBrokenCircuitError } from 'cockatiel';
import { LpmosError } from '../core/errors.ts';

export function isAbortError(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

/** True for errors worth retrying after a pause (the cluster is down or restarting). */
export function isTransient(e: unknown): boolean {
  if (e instanceof LpmosError) return e.code === 'E_UNAVAILABLE' && !(e.cause instanceof Error && isAuthError(e.cause));
  if (!(e instanceof Error)) return false;
  if (isAuthError(e) || isTooLarge(e)) return false;
  return isRecoverableError(e) || isBrokenCircuitError(e) || /UNAVAILABLE|ECONNREFUSED|ECONNRESET|stream ended|RST_STREAM/i.test(e.message);
}

/** A request or response over gRPC's or etcd's size limit (etcd --max-request-bytes, 1.5 MiB by default). */
export function isTooLarge(e: unknown): boolean {
  return e instanceof GRPCResourceExhastedError || (e instanceof Error && /RESOURCE_EXHAUSTED|request is too large|message larger than max/i.test(e.message))
    || (e instanceof LpmosError && e.cause instanceof Error && isTooLarge(e.cause));
}

function isAuthError(e: Error): boolean {
  return e instanceof EtcdAuthenticationFailedError || e instanceof GRPCUnauthenticatedError
    || e instanceof EtcdPermissionDeniedError || e instanceof EtcdInvalidAuthTokenError
    || /authentication failed|permission denied|user name is empty|invalid auth token/i.test(e.message);
}

export function toLpmosError(raw: unknown, endpoints: readonly string[], timeoutMs: number): unknown {
  if (raw instanceof LpmosError || isAbortError(raw)) return raw;
  if (!(raw instanceof Error)) return new LpmosError('E_INTERNAL', String(raw));
  const e = raw.constructor === Error ? castGrpcError(raw) : raw;
  const where = endpoints.join(', ');
  const msg = e.message;
  if (isAuthError(e)) {
    return new LpmosError('E_UNAVAILABLE', `etcd at ${where} refused access (authentication or permission): ${msg}`, { cause: e });
  }
  if (/compacted/i.test(msg)) return new LpmosError('E_COMPACTED', `etcd: ${msg}`, { cause: e });
  if (e instanceof EtcdLeaseInvalidError || /lease not found/i.test(msg)) {
    return new LpmosError('E_NOT_FOUND', `etcd: lease not found: ${msg}`, { cause: e });
  }
  if (isTooLarge(e)) return new LpmosError('E_VALIDATION', `etcd at ${where}: message too large: ${msg}`, { cause: e });
  if (/duplicate key|too many operations/i.test(msg)) return new LpmosError('E_VALIDATION', `etcd rejected the transaction: ${msg}`, { cause: e });
  if (e instanceof GRPCDeadlineExceededError) {
    return new LpmosError('E_UNAVAILABLE', `etcd at ${where} did not answer within ${timeoutMs} ms`, { cause: e });
  }
  if (e instanceof ClientClosedError) return new LpmosError('E_UNAVAILABLE', 'etcd store is closed', { cause: e });
  if (e instanceof GRPCUnavailableError || isTransient(e)) {
    return new LpmosError('E_UNAVAILABLE', `etcd unreachable at ${where}: ${msg}`, { cause: e });
  }
  return new LpmosError('E_INTERNAL', `etcd: ${msg}`, { cause: e });
}
