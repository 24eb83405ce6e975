// Which piece to ask of whom next (pure): rarest first among the pieces some free holder has, ties
// broken at random so concurrent downloaders spread over different pieces; the least loaded free
// holder of that piece serves it. Pieces no usable holder has go to the seed, in random order
// (agents that start together then fetch different pieces from the seed and trade them).
import { hasBit } from './bitfield.ts';

export interface HolderView {
  id: string;
  have: Uint8Array;
  inFlight: number;
  /** Not asked again before this time (it answered BUSY). */
  busyUntil: number;
}

export interface PlanInput {
  pieces: number;
  /** Missing and not in flight. */
  wanted: (i: number) => boolean;
  holders: HolderView[];
  perHolder: number;
  /** This holder must not be asked for this piece (it failed it). */
  excluded: (holder: string, i: number) => boolean;
  now: number;
  random?: () => number;
}

/** Holders that have piece i and may be asked for it (busy or full ones included). */
function usable(p: PlanInput, i: number): HolderView[] {
  return p.holders.filter((h) => hasBit(h.have, i) && !p.excluded(h.id, i));
}

export function nextPeerPiece(p: PlanInput): { index: number; holder: string } | undefined {
  const rnd = p.random ?? Math.random;
  const free = p.holders.filter((h) => h.inFlight < p.perHolder && h.busyUntil <= p.now);
  if (free.length === 0) return undefined;
  let best: { index: number; rarity: number; tie: number; holder: HolderView } | undefined;
  for (let i = 0; i < p.pieces; i++) {
    if (!p.wanted(i)) continue;
    const cands = free.filter((h) => hasBit(h.have, i) && !p.excluded(h.id, i));
    if (cands.length === 0) continue;
    const rarity = usable(p, i).length;
    const tie = rnd();
    if (!best || rarity < best.rarity || (rarity === best.rarity && tie < best.tie)) {
      const least = Math.min(...cands.map((h) => h.inFlight));
      const pick = cands.filter((h) => h.inFlight === least);
      best = { index: i, rarity, tie, holder: pick[Math.floor(rnd() * pick.length)]! };
    }
  }
  return best && { index: best.index, holder: best.holder.id };
}

/**
 * A piece for the seed: one no usable holder has (or `forSeed` says peers failed it), at random.
 */
export function nextSeedPiece(p: PlanInput & { forSeed: (i: number) => boolean }): number | undefined {
  const rnd = p.random ?? Math.random;
  const cands: number[] = [];
  for (let i = 0; i < p.pieces; i++) if (p.wanted(i) && (p.forSeed(i) || usable(p, i).length === 0)) cands.push(i);
  return cands.length === 0 ? undefined : cands[Math.floor(rnd() * cands.length)];
}
