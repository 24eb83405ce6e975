// Why a piece request to one source failed; the fetcher decides from `reason` what to do with the
// source: `busy` → ask it later, `not-found` → it does not have that piece, `bad-bytes` → drop it
// for the blob, `failed`/`timeout` → it vanished or is slow: replace it.
import { ErrorCode, LpmosError } from '../../core/errors.ts';

export type PieceFailure = 'busy' | 'not-found' | 'bad-bytes' | 'failed' | 'timeout';

const codes: Record<PieceFailure, ErrorCode> = {
  busy: ErrorCode.Unavailable,
  'not-found': ErrorCode.NotFound,
  'bad-bytes': ErrorCode.Validation,
  failed: ErrorCode.Unavailable,
  timeout: ErrorCode.Timeout,
};

export class PieceError extends LpmosError {
  readonly reason: PieceFailure;
  constructor(reason: PieceFailure, message: string, options?: { cause?: unknown }) {
    super(codes[reason], message, options);
    this.reason = reason;
  }
}

export function failureOf(e: unknown, timedOut = false): PieceFailure {
  if (e instanceof PieceError) return e.reason;
  if (timedOut) return 'timeout';
  return 'failed';
}
