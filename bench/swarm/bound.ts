// The Kumar–Ross lower bound on the time to get a file of F bytes from one server to N peers
// (R. Kumar, K. W. Ross, "Peer-assisted file distribution: the minimum distribution time", 2006):
// T ≥ max{ F/u_s, F/d_min, N·F/(u_s + Σu_i) } — the seed must send every byte once, the slowest
// downloader must receive every byte, and N copies must go through the sum of all upload links.
// Capacities in bytes per second; the answer in seconds.

export interface Capacities {
  /** Seed upload. */
  seedUp: number;
  /** Each agent's upload and download. */
  up: number[];
  down: number[];
}

export interface Bound {
  seconds: number;
  /** The three terms; `which` names the largest. */
  seed: number;
  slowest: number;
  aggregate: number;
  which: 'seed' | 'slowest' | 'aggregate';
}

export function kumarRoss(bytes: number, c: Capacities): Bound {
  const n = c.down.length;
  if (n === 0 || c.up.length !== n) throw new RangeError('one upload and one download capacity per agent, at least one agent');
  const seed = bytes / c.seedUp;
  const slowest = bytes / Math.min(...c.down);
  const aggregate = (n * bytes) / (c.seedUp + c.up.reduce((a, b) => a + b, 0));
  const seconds = Math.max(seed, slowest, aggregate);
  const which = seconds === seed ? 'seed' : seconds === slowest ? 'slowest' : 'aggregate';
  return { seconds, seed, slowest, aggregate, which };
}

/** Every link (seed and agents, both directions) at `mbit` Mbit/s. */
export function uniform(n: number, mbit: number): Capacities {
  const bps = (mbit * 1e6) / 8;
  return { seedUp: bps, up: Array.from({ length: n }, () => bps), down: Array.from({ length: n }, () => bps) };
}
