// A manifest from a file or a stream (I/O edge of manifest.ts).
import { createReadStream } from 'node:fs';
import { DEFAULT_PIECE_SIZE, type BlobManifest } from './api.ts';
import { ManifestBuilder } from './manifest.ts';

export async function manifestFromStream(stream: AsyncIterable<Uint8Array>, pieceSize = DEFAULT_PIECE_SIZE): Promise<BlobManifest> {
  const b = new ManifestBuilder(pieceSize);
  for await (const chunk of stream) b.update(chunk);
  return b.finish();
}

export function manifestFromFile(path: string, pieceSize = DEFAULT_PIECE_SIZE, signal?: AbortSignal): Promise<BlobManifest> {
  return manifestFromStream(createReadStream(path, { highWaterMark: 1024 * 1024, ...(signal ? { signal } : {}) }), pieceSize);
}
