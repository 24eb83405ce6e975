// A local file into a piece store (BlobService.add: the seed's artifacts and packages): its manifest,
// then every piece read, checked against that manifest and stored. A file that changes while it is
// added fails with E_CONFLICT and leaves nothing behind that was not there before.
import { open } from 'node:fs/promises';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { DEFAULT_PIECE_SIZE, type BlobManifest, type PieceStore } from './api.ts';
import { manifestFromFile } from './manifest-build.ts';
import { pieceMatches, pieceRange } from './manifest.ts';

/** `pin`: the blob stays pinned after it is added. */
export async function addFile(store: PieceStore, path: string, opts: { pieceSize?: number; pin?: boolean; signal?: AbortSignal } = {}): Promise<BlobManifest> {
  const m = await manifestFromFile(path, opts.pieceSize ?? DEFAULT_PIECE_SIZE, opts.signal);
  const had = store.get(m.sha256) !== undefined;
  await store.open(m);
  const unpin = store.pin(m.sha256);
  const fh = await open(path, 'r');
  try {
    for (let i = 0; i < m.pieces.length; i++) {
      const r = pieceRange(m, i);
      const buf = new Uint8Array(r.end - r.start);
      const { bytesRead } = await fh.read(buf, 0, buf.length, r.start);
      // Changed under us since the manifest was made: the store verifies nothing, so we do.
      if (bytesRead !== buf.length || !pieceMatches(m, i, buf)) throw new LpmosError(ErrorCode.Conflict, `${path} changed while it was being added`);
      await store.putPiece(m.sha256, i, buf);
    }
  } catch (e) {
    unpin();
    if (!had) await store.remove(m.sha256).catch(() => undefined);
    throw e;
  } finally {
    await fh.close();
  }
  if (!opts.pin) unpin();
  return m;
}
