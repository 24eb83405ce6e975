// What the seed records about a swarm peer when an agent enrolls (`swarm/peers/<peerId>`), and the
// machine → peer id index (`swarm/machine-peers/<machine>`). Pure schemas.
import { peerIdFromString } from '@libp2p/peer-id';
import { z } from 'zod';
import { nameSchema, timestampSchema } from '../../core/model/common.ts';

export function isPeerId(text: string): boolean {
  try {
    peerIdFromString(text);
    return true;
  } catch {
    return false;
  }
}

export const peerIdSchema = z.string().max(128).refine(isPeerId, { message: 'must be a libp2p peer id (base58btc, e.g. 12D3KooW…)' });

export const peerRecordSchema = z.strictObject({
  machine: nameSchema,
  /** Where the agent listens, as multiaddrs (informative: peers learn addresses by identify too). */
  addrs: z.array(z.string().max(256)).max(16),
  enrolledAt: timestampSchema,
});
export type PeerRecord = z.infer<typeof peerRecordSchema>;

export const machinePeerSchema = z.strictObject({ peerId: peerIdSchema });
