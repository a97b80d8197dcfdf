// The simulator's only source of randomness: a seeded xoshiro128** generator. One root seed derives
// independent streams (network, disk, clients, faults, one per Raft node) so that adding a draw in
// one concern does not shift every other concern's choices.
import type { Rng } from '../raft/types.ts';

const UINT32 = 0x1_0000_0000;

/** splitmix32: expands a 32-bit seed into well-mixed state words (xoshiro must not start at zero). */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a (32-bit) of a stream name, used to separate derived streams. */
function nameHash32(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Prng implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** The 32-bit seed this stream was built from (kept for deriving sub-streams). */
  readonly seed: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new Error(`Prng: seed must be a safe integer, got ${seed}`);
    // Fold a 53-bit seed into 32 bits without losing the high bits entirely.
    this.seed = (seed ^ Math.floor(seed / UINT32)) >>> 0;
    const st = { s: this.seed };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.d = 1;
  }

  /** A new independent stream named `name`, fully determined by this stream's seed and the name. */
  derive(name: string): Prng {
    const st = { s: this.seed ^ nameHash32(name) };
    splitmix32(st);
    return new Prng(splitmix32(st) ^ nameHash32(`${name}#`));
  }

  /** The next raw 32-bit unsigned value (xoshiro128**). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A float in [0, 1). */
  nextFloat(): number {
    return this.nextU32() / UINT32;
  }

  /** An integer uniformly drawn from [0, n) (Rng contract; n >= 1). Uses rejection to avoid bias. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > UINT32) throw new Error(`Prng.nextInt: bad bound ${n}`);
    const limit = UINT32 - (UINT32 % n);
    for (let attempt = 0; attempt < 64; attempt++) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
    // Probability of 64 rejections is below 2^-64; fall back rather than loop unboundedly.
    return this.nextU32() % n;
  }

  /** An integer uniformly drawn from [lo, hi] (inclusive). */
  intBetween(lo: number, hi: number): number {
    if (hi < lo) throw new Error(`Prng.intBetween: empty range [${lo}, ${hi}]`);
    return lo + this.nextInt(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.nextFloat() < p;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Prng.pick: empty array');
    return items[this.nextInt(items.length)] as T;
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffled<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
