// Pure parts of the blob exchange: manifest, bitfield, have messages, the wire framing, Range
// parsing, piece planning, upload caps and the holder index.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { countBits, emptyBits, fullBits, hasBit, setBit, validBits } from '../../swarm/blobs/bitfield.ts';
import { decodeHave, encodeBits, encodeHave, haveTopic } from '../../swarm/blobs/have.ts';
import { HolderIndex } from '../../swarm/blobs/holders.ts';
import { parseRange } from '../../swarm/blobs/http-range.ts';
import { manifestFromFile } from '../../swarm/blobs/manifest-build.ts';
import { decodeManifest, encodeManifest, ManifestBuilder, manifestOf, pieceCount, pieceMatches, pieceRange } from '../../swarm/blobs/manifest.ts';
import { nextPeerPiece, nextSeedPiece, type HolderView } from '../../swarm/blobs/plan.ts';
import { UploadLimiter } from '../../swarm/blobs/upload-limit.ts';
import { decodeRequest, decodeResponseHeader, encodeRequest, ReqType, requestLength, responseHeader, Status, type Request } from '../../swarm/blobs/wire.ts';

const KiB = 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('manifest: pieces, hashes and geometry; the same from bytes, chunks and a file', async () => {
  const bytes = randomBytes(100 * KiB + 7);
  const m = manifestOf(bytes, 16 * KiB);
  assert.equal(m.sha256, sha(bytes));
  assert.equal(m.size, bytes.length);
  assert.equal(m.pieces.length, 7);
  assert.equal(pieceCount(m.size, m.pieceSize), 7);
  assert.deepEqual(pieceRange(m, 6), { start: 96 * KiB, end: 100 * KiB + 7 });
  assert.equal(m.pieces[6], sha(bytes.subarray(96 * KiB)));
  assert.ok(pieceMatches(m, 3, bytes.subarray(48 * KiB, 64 * KiB)));
  assert.ok(!pieceMatches(m, 3, bytes.subarray(49 * KiB, 65 * KiB)));
  assert.ok(!pieceMatches(m, 7, bytes.subarray(0, 16 * KiB)));
  // Odd chunk boundaries give the same manifest.
  const b = new ManifestBuilder(16 * KiB);
  for (let off = 0; off < bytes.length; off += 5000) b.update(bytes.subarray(off, off + 5000));
  assert.deepEqual(b.finish(), m);
  const dir = mkdtempSync(join(tmpdir(), `lpmos-blobs-${process.pid}-`));
  try {
    writeFileSync(join(dir, 'f'), bytes);
    assert.deepEqual(await manifestFromFile(join(dir, 'f'), 16 * KiB), m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(decodeManifest(encodeManifest(m)), m);
  const empty = manifestOf(new Uint8Array(0), 16 * KiB);
  assert.deepEqual(empty.pieces, []);
  assert.equal(empty.sha256, sha(new Uint8Array(0)));
});

test('manifest: malformed ones are refused with E_VALIDATION / E_PARSE', () => {
  const m = manifestOf(randomBytes(40 * KiB), 16 * KiB);
  assert.throws(() => decodeManifest('{'), { code: 'E_PARSE' });
  assert.throws(() => decodeManifest(JSON.stringify({ ...m, pieces: m.pieces.slice(1) })), { code: 'E_VALIDATION' });
  assert.throws(() => decodeManifest(JSON.stringify({ ...m, pieceSize: 20_000 })), { code: 'E_VALIDATION' });
  assert.throws(() => decodeManifest(JSON.stringify({ ...m, pieceSize: 64 * 1024 * 1024 })), { code: 'E_VALIDATION' });
  assert.throws(() => decodeManifest(JSON.stringify({ ...m, sha256: m.sha256.toUpperCase() })), { code: 'E_VALIDATION' });
  assert.throws(() => decodeManifest(JSON.stringify({ ...m, extra: 1 })), { code: 'E_VALIDATION' });
  assert.throws(() => new ManifestBuilder(1000), { code: 'E_USAGE' });
});

test('bitfield: MSB first, counted, validated against the piece count', () => {
  const b = emptyBits(10);
  assert.equal(b.length, 2);
  setBit(b, 0);
  setBit(b, 9);
  assert.deepEqual([...b], [0x80, 0x40]);
  assert.ok(hasBit(b, 9) && !hasBit(b, 8));
  assert.equal(countBits(b, 10), 2);
  assert.ok(validBits(b, 10));
  assert.ok(!validBits(b, 9), 'bit 9 set past a 9-piece blob');
  assert.ok(!validBits(b, 17), 'wrong length');
  assert.equal(countBits(fullBits(10), 10), 10);
  assert.ok(validBits(fullBits(10), 10));
});

test('have messages: round trip, complete as "*", partial as a bitfield; junk refused', () => {
  const bits = emptyBits(12);
  setBit(bits, 3);
  const a = 'a'.repeat(64);
  const b = 'b'.repeat(64);
  const bytes = encodeHave({ v: 1, addrs: ['/ip4/127.0.0.1/tcp/1/p2p/x'], http: 'http://127.0.0.1:8/blobs', blobs: [{ sha256: a, pieces: 12, have: encodeBits(bits, 12, false) }, { sha256: b, pieces: 3, have: encodeBits(fullBits(3), 3, true) }], gone: ['c'.repeat(64)] });
  const r = decodeHave(bytes);
  assert.ok(r.ok);
  assert.deepEqual(r.blobs[0], { sha256: a, pieces: 12, have: bits });
  assert.deepEqual(r.blobs[1], { sha256: b, pieces: 3, have: 'all' });
  assert.deepEqual(r.msg.gone, ['c'.repeat(64)]);
  assert.equal(haveTopic('dc1'), 'lpmos/dc1/blobs/have');
  // A claim: pieces being fetched from the seed.
  const fetching = emptyBits(12);
  setBit(fetching, 7);
  const claim = decodeHave(encodeHave({ v: 1, addrs: [], blobs: [{ sha256: a, pieces: 12, have: encodeBits(emptyBits(12), 12, false), fetching: Buffer.from(fetching).toString('base64') }] }));
  assert.ok(claim.ok);
  assert.deepEqual(claim.blobs[0]!.fetching, fetching);
  const idx = new HolderIndex();
  idx.update('p', { addrs: [] }, claim.blobs);
  assert.deepEqual(idx.holders(a)[0]!.fetching, fetching);
  assert.equal(decodeHave(Buffer.from(JSON.stringify({ v: 1, addrs: [], blobs: [{ sha256: a, pieces: 3, have: '*', fetching: Buffer.from([0xff]).toString('base64') }] }))).ok, false);
  assert.equal(decodeHave(Buffer.from('nope')).ok, false);
  assert.equal(decodeHave(Buffer.from(JSON.stringify({ v: 1, addrs: [], blobs: [{ sha256: a, pieces: 3, have: Buffer.from([0xff]).toString('base64') }] }))).ok, false, 'bits past the last piece');
  assert.equal(decodeHave(Buffer.from(JSON.stringify({ v: 2, addrs: [], blobs: [] }))).ok, false);
  assert.equal(decodeHave(new Uint8Array(70_000)).ok, false);
});

test('wire: requests and response headers round trip; bad ones are refused', () => {
  const s = 'ab'.repeat(32);
  const reqs: Request[] = [
    { type: ReqType.Piece, sha256: s, index: 70_000 },
    { type: ReqType.Manifest, sha256: s },
    { type: ReqType.Have, blobs: [s, 'cd'.repeat(32)] },
  ];
  for (const r of reqs) {
    const bytes = encodeRequest(r);
    assert.equal(requestLength(bytes), bytes.length);
    assert.deepEqual(decodeRequest(bytes), r);
  }
  assert.equal(requestLength(new Uint8Array([2, 0])), undefined, 'needs the count');
  assert.equal(requestLength(new Uint8Array([2, 0xff, 0xff])), -1, 'too many blobs');
  assert.equal(requestLength(new Uint8Array([9])), -1);
  assert.equal(decodeRequest(new Uint8Array([1, 2, 3])), undefined);
  assert.deepEqual(decodeResponseHeader(responseHeader(Status.Busy, 0)), { status: Status.Busy, length: 0 });
  assert.deepEqual(decodeResponseHeader(responseHeader(Status.Ok, 1 << 20)), { status: Status.Ok, length: 1 << 20 });
  assert.equal(decodeResponseHeader(new Uint8Array([7, 0, 0, 0, 0])), undefined);
});

test('Range: one range of bytes, suffix and open ranges; unsatisfiable; several ranges mean the whole', () => {
  assert.deepEqual(parseRange('bytes=0-99', 1000), { start: 0, end: 100 });
  assert.deepEqual(parseRange('bytes=900-', 1000), { start: 900, end: 1000 });
  assert.deepEqual(parseRange('bytes=-100', 1000), { start: 900, end: 1000 });
  assert.deepEqual(parseRange('bytes=990-2000', 1000), { start: 990, end: 1000 });
  assert.equal(parseRange('bytes=1000-', 1000), 'unsatisfiable');
  assert.equal(parseRange('bytes=5-4', 1000), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-1,5-6', 1000), undefined);
  assert.equal(parseRange(undefined, 1000), undefined);
});

test('plan: rarest piece first, least loaded holder; busy and full holders skipped; seed gets pieces nobody has', () => {
  const bits = (...is: number[]): Uint8Array => {
    const b = emptyBits(4);
    for (const i of is) setBit(b, i);
    return b;
  };
  const holders: HolderView[] = [
    { id: 'a', have: bits(0, 1, 2), inFlight: 0, busyUntil: 0 },
    { id: 'b', have: bits(0, 1), inFlight: 1, busyUntil: 0 },
  ];
  const base = { pieces: 4, wanted: () => true, holders, perHolder: 2, excluded: () => false, now: 1000, random: () => 0.5 };
  assert.deepEqual(nextPeerPiece(base), { index: 2, holder: 'a' }, 'piece 2 has one holder');
  assert.deepEqual(nextPeerPiece({ ...base, wanted: (i) => i < 2 }), { index: 0, holder: 'a' }, 'a is less loaded');
  assert.deepEqual(nextPeerPiece({ ...base, wanted: (i) => i < 2, excluded: (h) => h === 'a' }), { index: 0, holder: 'b' });
  assert.equal(nextPeerPiece({ ...base, holders: holders.map((h) => ({ ...h, busyUntil: 2000 })) }), undefined);
  assert.equal(nextPeerPiece({ ...base, holders: holders.map((h) => ({ ...h, inFlight: 2 })) }), undefined);
  assert.equal(nextSeedPiece({ ...base, forSeed: () => false }), 3);
  assert.equal(nextSeedPiece({ ...base, wanted: (i) => i < 3, forSeed: () => false }), undefined);
  assert.equal(nextSeedPiece({ ...base, wanted: (i) => i < 3, forSeed: (i) => i === 1 }), 1);
});

test('upload limiter: per peer and total caps, release once', () => {
  const l = new UploadLimiter({ perPeer: 2, total: 3 });
  const a1 = l.tryAcquire('a');
  const a2 = l.tryAcquire('a');
  assert.ok(a1 && a2);
  assert.equal(l.tryAcquire('a'), undefined);
  const b1 = l.tryAcquire('b');
  assert.ok(b1);
  assert.equal(l.tryAcquire('c'), undefined, 'total reached');
  a1();
  a1();
  assert.equal(l.active, 2);
  assert.ok(l.tryAcquire('c'));
});

test('holder index: latest have per peer, expiry, gone and forgotten peers', () => {
  let now = 0;
  const idx = new HolderIndex({ ttlMs: 1000, now: () => now });
  const a = 'a'.repeat(64);
  const bits = emptyBits(4);
  setBit(bits, 1);
  idx.update('p1', { addrs: ['/x'] }, [{ sha256: a, pieces: 4, have: bits }]);
  now = 10;
  idx.update('p2', { addrs: [], http: 'http://h/blobs' }, [{ sha256: a, pieces: 4, have: 'all' }]);
  assert.deepEqual(
    idx.holders(a).map((h) => h.peerId),
    ['p2', 'p1'],
  );
  assert.deepEqual(idx.availability(a, 4), [1, 2, 1, 1]);
  idx.update('p2', { addrs: [] }, [], [a]);
  assert.deepEqual(
    idx.holders(a).map((h) => h.peerId),
    ['p1'],
  );
  now = 2000;
  assert.deepEqual(idx.holders(a), [], 'expired');
  idx.update('p1', { addrs: [] }, [{ sha256: a, pieces: 4, have: bits }]);
  idx.forgetPeer('p1');
  assert.deepEqual(idx.holders(a), []);
});
