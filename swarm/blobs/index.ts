// The blob exchange (issue 7): see api.ts for the types and README for the decisions.
export * from './api.ts';
export { BlobService, createBlobService, emptyStats, type BlobServiceExtras } from './service.ts';
export { MemoryPieceStore } from './memory-store.ts';
export { DiskPieceStore } from './disk-store.ts';
export { manifestFromFile, manifestFromStream } from './manifest-build.ts';
export { decodeManifest, encodeManifest, manifestOf, pieceCount, pieceRange, ManifestBuilder } from './manifest.ts';
export { haveTopic } from './have.ts';
export { HolderIndex } from './holders.ts';
export { BLOB_PROTOCOL } from './wire.ts';
export { DEFAULT_TUNING, type DownloadTuning } from './download.ts';
