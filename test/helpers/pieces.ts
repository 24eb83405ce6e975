// Filling a piece store for blob tests: a blob opened with its manifest and some or all of its pieces.
import type { BlobManifest, PieceStore } from '../../swarm/blobs/api.ts';
import { pieceRange } from '../../swarm/blobs/manifest.ts';

/** Opens `m` in `store` and puts the pieces `indexes` (default: every one) cut from `bytes`. */
export async function putPieces(store: PieceStore, m: BlobManifest, bytes: Uint8Array, indexes?: readonly number[]): Promise<void> {
  await store.open(m);
  for (const i of indexes ?? m.pieces.map((_, j) => j)) {
    const r = pieceRange(m, i);
    await store.putPiece(m.sha256, i, bytes.subarray(r.start, r.end));
  }
}
