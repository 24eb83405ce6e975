// The tracker session's framing (swarm/blobs/tracker-session.ts): request frames are an id plus a
// self-delimiting wire.ts request, so several can be cut from one byte stream; answers carry the id.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeFrame, frameLength, responseFrameHead } from '../../swarm/blobs/tracker-session.ts';
import { decodeRequest, decodeResponseHeader, ReqType, Status } from '../../swarm/blobs/wire.ts';

const sha = 'ab'.repeat(32);

test('frames: id + request, cut from a stream of several; incomplete and invalid heads', () => {
  const a = encodeFrame(7, { type: ReqType.Claim, sha256: sha, index: 3, pieces: 9 });
  const b = encodeFrame(0xffffffff, { type: ReqType.Holders, blobs: [sha, sha] });
  const c = encodeFrame(8, { type: ReqType.Push, body: new Uint8Array([1, 2, 3]) });
  const all = Buffer.concat([a, b, c]);
  let off = 0;
  const got: { id: number; req: ReturnType<typeof decodeRequest> }[] = [];
  while (off < all.length) {
    const n = frameLength(all.subarray(off))!;
    assert.ok(n > 0);
    got.push({ id: all.readUInt32BE(off), req: decodeRequest(all.subarray(off + 4, off + n)) });
    off += n;
  }
  assert.deepEqual(got, [
    { id: 7, req: { type: ReqType.Claim, sha256: sha, index: 3, pieces: 9 } },
    { id: 0xffffffff, req: { type: ReqType.Holders, blobs: [sha, sha] } },
    { id: 8, req: { type: ReqType.Push, body: new Uint8Array([1, 2, 3]) } },
  ]);
  assert.equal(frameLength(a.subarray(0, 4)), undefined);
  assert.equal(frameLength(b.subarray(0, 6)), undefined);
  assert.equal(frameLength(Buffer.from([0, 0, 0, 1, 99])), -1);
});

test('answer heads: id, status, length', () => {
  const h = Buffer.from(responseFrameHead(42, Status.Busy, 1234));
  assert.equal(h.readUInt32BE(0), 42);
  assert.deepEqual(decodeResponseHeader(h.subarray(4)), { status: Status.Busy, length: 1234 });
});
