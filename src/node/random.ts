// The node's randomness: election timeouts (each group's core), the request ids of a node
// incarnation, a new cluster's id. The node never draws it from Math.random or crypto itself
// (scripts/check-layers.ts rejects it): it is handed a Random. SYSTEM_RANDOM (system.ts) is what
// `ringkv serve` uses; a simulator hands in a seeded generator, so that one seed gives one run.
import type { Rng } from '../raft/types.ts';

/**
 * `nextInt(n)`: an integer drawn uniformly from [0, n), for an integer n in [1, 2^48] (2^48: a
 * request id's client id, still a safe integer). The same interface as the Raft core's Rng, so that
 * the node hands it to its groups' cores as it is.
 */
export type Random = Rng;

/** `bytes` random bytes as lowercase hex (2 × bytes characters): a new cluster's id. */
export function randomHex(random: Random, bytes: number): string {
  let out = '';
  for (let i = 0; i < bytes; i++) out += random.nextInt(256).toString(16).padStart(2, '0');
  return out;
}
