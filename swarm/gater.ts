// Only enrolled peers join the swarm (DESIGN §4). The gater asks an allow-list at every stage where
// libp2p knows the remote peer id: before dialing, and right after the noise handshake in both
// directions (the first point where an inbound peer's id is proven by its key). A PSK private
// network (@libp2p/pnet) is not the guard: its 3.0.27 release aborts connections after ~55 MB.
import type { ConnectionGater, PeerId } from '@libp2p/interface';

export type PeerFilter = (peerId: string) => boolean;

export function allowListGater(allowed: PeerFilter): ConnectionGater {
  const deny = (peer: PeerId): boolean => !allowed(peer.toString());
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
    denyInboundUpgradedConnection: deny,
    denyOutboundUpgradedConnection: deny,
  };
}
