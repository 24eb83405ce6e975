// Which pieces of a blob are present: one bit per piece, MSB first (BitTorrent's layout), so a
// holder's summary for a 64 MiB blob in 1 MiB pieces is 8 bytes. Pure.

export function emptyBits(pieces: number): Uint8Array {
  return new Uint8Array(Math.ceil(pieces / 8));
}

export function fullBits(pieces: number): Uint8Array {
  const b = emptyBits(pieces);
  for (let i = 0; i < pieces; i++) setBit(b, i);
  return b;
}

export function hasBit(bits: Uint8Array, i: number): boolean {
  return ((bits[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0;
}

export function setBit(bits: Uint8Array, i: number): void {
  bits[i >> 3] = (bits[i >> 3] ?? 0) | (0x80 >> (i & 7));
}

export function countBits(bits: Uint8Array, pieces: number): number {
  let n = 0;
  for (let i = 0; i < pieces; i++) if (hasBit(bits, i)) n++;
  return n;
}

/** A bitfield read from the wire: right length, no bits past the last piece. */
export function validBits(bits: Uint8Array, pieces: number): boolean {
  if (bits.length !== Math.ceil(pieces / 8)) return false;
  for (let i = pieces; i < bits.length * 8; i++) if (hasBit(bits, i)) return false;
  return true;
}
