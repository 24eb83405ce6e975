// Where a node finds a blob's manifest when it knows only the hash and size (BlobRef): the blob's
// holders first, then connected peers at random (the seed answers for its artifacts). At most four
// peers are asked, 2 s each; a manifest that names another hash or size is ignored.
import type { Libp2p } from '@libp2p/interface';
import type { BlobManifest, BlobRef, HaveEntry } from './api.ts';
import { decodeManifest } from './manifest.ts';
import { p2pManifest } from './p2p-client.ts';

/** Connected peers, at most `max` at random: who a node asks have? and manifest?. */
export function connectedPeers(libp2p: Libp2p, max = 16): { peerId: string; addrs: string[] }[] {
  const peers = libp2p.getPeers().map((p) => ({ peerId: p.toString(), addrs: [] as string[] }));
  for (let i = peers.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [peers[i], peers[j]] = [peers[j]!, peers[i]!];
  }
  return peers.slice(0, max);
}

/** A manifest for `ref` from one of its holders or a connected peer; undefined when none answers with it. */
export async function askManifest(libp2p: Libp2p, self: string, holders: readonly HaveEntry[], ref: BlobRef, signal: AbortSignal): Promise<BlobManifest | undefined> {
  const targets = [...holders.map((h) => ({ peerId: h.peerId, addrs: h.addrs })), ...connectedPeers(libp2p)];
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t.peerId) || t.peerId === self) continue;
    seen.add(t.peerId);
    try {
      const m = decodeManifest(await p2pManifest(libp2p, t, ref.sha256, AbortSignal.any([signal, AbortSignal.timeout(2000)])));
      if (m.sha256 === ref.sha256 && m.size === ref.size) return m;
    } catch {
      // next
    }
    if (seen.size >= 4) break;
  }
  return undefined;
}
