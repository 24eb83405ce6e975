// A blob known only by hash and size (BlobRef) that no peer can describe: stream it whole from the
// seed, cutting pieces and hashing as the bytes pass, then check the whole before anything is
// stored (and so announced). Used for package files on a cold start and as the last resort when a
// peer's manifest proved wrong.
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { DEFAULT_PIECE_SIZE, type BlobManifest, type BlobRef, type BlobStats, type PieceStore } from './api.ts';
import { httpRange } from './http-client.ts';
import { ManifestBuilder } from './manifest.ts';

export async function seedWhole(url: string, ref: BlobRef, signal: AbortSignal, pieceSize = DEFAULT_PIECE_SIZE): Promise<{ manifest: BlobManifest; pieces: Uint8Array[] }> {
  const body = ref.size === 0 ? new Uint8Array(0) : await httpRange(url, 0, ref.size, ref.size, signal);
  const b = new ManifestBuilder(pieceSize);
  b.update(body);
  const manifest = b.finish();
  if (manifest.sha256 !== ref.sha256 || manifest.size !== ref.size) {
    throw new LpmosError(ErrorCode.Validation, `${url}: the seed sent ${manifest.size} bytes with sha256 ${manifest.sha256.slice(0, 12)}, expected ${ref.size} bytes ${ref.sha256.slice(0, 12)}`);
  }
  const pieces: Uint8Array[] = [];
  for (let off = 0; off < body.length; off += pieceSize) pieces.push(body.subarray(off, Math.min(body.length, off + pieceSize)));
  return { manifest, pieces };
}

/** seedWhole into `store`, counted as bytes from the seed; pinned for the caller (`unpin` releases it). */
export async function storeSeedWhole(store: PieceStore, stats: BlobStats, url: string, ref: BlobRef, signal: AbortSignal): Promise<{ manifest: BlobManifest; unpin: () => void }> {
  const { manifest, pieces } = await seedWhole(url, ref, signal);
  await store.open(manifest, signal);
  const unpin = store.pin(manifest.sha256);
  try {
    for (let i = 0; i < pieces.length; i++) await store.putPiece(manifest.sha256, i, pieces[i]!);
  } catch (e) {
    unpin();
    throw e;
  }
  stats.bytesFromSeed += ref.size;
  stats.piecesFromSeed += pieces.length;
  return { manifest, unpin };
}
