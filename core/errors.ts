// Typed errors with stable codes (DESIGN §5.5). Thrown anywhere, translated once at the edge:
// CLI exit code, HTTP status, gossip event.

export const ErrorCode = {
  Usage: 'E_USAGE',
  Parse: 'E_PARSE',
  Validation: 'E_VALIDATION',
  NotFound: 'E_NOT_FOUND',
  Conflict: 'E_CONFLICT',
  Duplicate: 'E_DUPLICATE',
  Unavailable: 'E_UNAVAILABLE',
  Compacted: 'E_COMPACTED',
  Timeout: 'E_TIMEOUT',
  Internal: 'E_INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** CLI exit code per error code: stable, documented in `lpmos --help`. */
export const exitCodes: Record<ErrorCode, number> = {
  E_INTERNAL: 1,
  E_USAGE: 2,
  E_PARSE: 3,
  E_VALIDATION: 3,
  E_NOT_FOUND: 4,
  E_CONFLICT: 5,
  E_DUPLICATE: 5,
  E_UNAVAILABLE: 6,
  E_COMPACTED: 6,
  E_TIMEOUT: 7,
};

/** HTTP status per error code, for the seed's HTTP edge. */
export const httpStatus: Record<ErrorCode, number> = {
  E_INTERNAL: 500,
  E_USAGE: 400,
  E_PARSE: 400,
  E_VALIDATION: 422,
  E_NOT_FOUND: 404,
  E_CONFLICT: 409,
  E_DUPLICATE: 409,
  E_UNAVAILABLE: 503,
  E_COMPACTED: 410,
  E_TIMEOUT: 504,
};

export interface ErrorDetail {
  /** Where the problem is: a file/document, an object (`machine/web-01`), a field path (`spec.action`). */
  path?: string;
  message: string;
}

export class LpmosError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[];
  constructor(code: ErrorCode, message: string, options?: { details?: ErrorDetail[]; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LpmosError';
    this.code = code;
    this.details = options?.details ?? [];
  }
}

export function isLpmosError(e: unknown, code?: ErrorCode): e is LpmosError {
  return e instanceof LpmosError && (code === undefined || e.code === code);
}

/** One line per detail, each naming where the problem is. */
export function formatError(e: unknown): string {
  if (!(e instanceof LpmosError)) return e instanceof Error ? e.message : String(e);
  const lines = [`${e.code}: ${e.message}`];
  for (const d of e.details) lines.push(d.path ? `  - ${d.path}: ${d.message}` : `  - ${d.message}`);
  return lines.join('\n');
}
