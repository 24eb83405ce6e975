// The codec and the classifier on 40,000 mutated fixture packets: they either decode or throw
// E_PARSE, never anything else; whatever decodes re-encodes and decodes to the same message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode } from '../../seed/dhcp/codec.ts';
import { classify } from '../../seed/dhcp/classify.ts';
import { isLpmosError } from '../../core/errors.ts';
import { allPayloads } from '../fixtures/dhcp/pcap.ts';
import { mutate, prng } from '../fixtures/dhcp/mutate.ts';

test('40,000 mutated packets: decode or E_PARSE; decoded ones round-trip and classify', () => {
  const bases = allPayloads().map((p) => p.payload);
  const rnd = prng(0x1badb002);
  let decoded = 0;
  let rejected = 0;
  for (let i = 0; i < 40_000; i++) {
    const pkt = mutate(bases, rnd);
    let msg;
    try {
      msg = decode(pkt);
    } catch (e) {
      assert.ok(isLpmosError(e, 'E_PARSE'), `packet ${i} threw ${String(e)}`);
      rejected++;
      continue;
    }
    decoded++;
    classify(msg);
    let again;
    try {
      again = decode(encode(msg));
    } catch (e) {
      // sname/file are C strings of at most 63/127 bytes after decode; anything else is a bug.
      assert.fail(`packet ${i}: re-encode failed: ${String(e)}`);
    }
    assert.deepEqual(again.options, msg.options, `packet ${i}`);
  }
  assert.ok(decoded > 10_000 && rejected > 2_000, `decoded ${decoded}, rejected ${rejected}`);
});
