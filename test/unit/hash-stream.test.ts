import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { hashingStream } from '../../core/hash-stream.ts';

const data = randomBytes(300_000);
const sink = (into: Buffer[]): Writable => new Writable({ write(c: Buffer, _e, cb) { into.push(c); cb(); } });

test('passes the bytes through unchanged and reports their sha256 and size', async () => {
  const h = hashingStream();
  const out: Buffer[] = [];
  await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), h.stream, sink(out));
  assert.deepEqual(Buffer.concat(out), data);
  assert.deepEqual(h.result(), { sha256: createHash('sha256').update(data).digest('hex'), size: data.length });
});

test('an error from the check fails the stream at its end', async () => {
  const h = hashingStream((got) => (got.size === 1 ? undefined : new Error(`got ${got.size} bytes`)));
  await assert.rejects(pipeline(Readable.from([data]), h.stream, sink([])), new RegExp(`got ${data.length} bytes`));
});
