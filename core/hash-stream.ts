// A pass-through stream that hashes (sha256) and counts what goes through it; `check` runs at the end
// and fails the stream with the error it returns (a download that is not the file it should be).
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export interface HashedStream {
  stream: Transform;
  /** sha256 (hex) and byte count of everything passed; call once the stream has ended. */
  result(): { sha256: string; size: number };
}

export function hashingStream(check?: (got: { sha256: string; size: number }) => Error | undefined): HashedStream {
  const hash = createHash('sha256');
  let size = 0;
  let digest: string | undefined;
  const result = (): { sha256: string; size: number } => ({ sha256: (digest ??= hash.digest('hex')), size });
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      cb(check?.(result()) ?? null);
    },
  });
  return { stream, result };
}
