// gossipsub's fast message id (issue 7): author + sequence number, the pair StrictSign's own message
// id is made of. Without it gossipsub verifies the Ed25519 signature of every copy a mesh peer
// forwards (about D copies of each message) before it notices the duplicate; with it, a copy of a
// message already accepted is dropped by a map lookup. A forged copy cannot poison the cache:
// gossipsub records the fast id only after the first copy passed its checks, signature included.
import type { GossipsubOpts } from '@libp2p/gossipsub';

type RpcMessage = Parameters<GossipsubOpts['fastMsgIdFn']>[0];

function text(b: Uint8Array | undefined, enc: 'base64' | 'hex'): string {
  return b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString(enc) : '';
}

/** `<author>:<seqno>` (unsigned messages, rejected by StrictSign, have neither: `:`). */
export function fastMsgId(msg: RpcMessage): string {
  return `${text(msg.from, 'base64')}:${text(msg.seqno, 'hex')}`;
}
