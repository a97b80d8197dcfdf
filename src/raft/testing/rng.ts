// A tiny seeded PRNG for tests and the interaction harness. The core takes randomness only
// through the Rng interface; tests must be reproducible bit for bit, so they never use
// Math.random. splitmix32: 32-bit state, passes the usual smoke tests, one multiply-xorshift
// chain per draw — plenty for election timeouts and random schedules.
import type { Rng } from '../types.ts';

export class SplitMix32 implements Rng {
  // Invariant: state is an unsigned 32-bit integer.
  private state: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new Error(`SplitMix32: seed must be an integer, got ${seed}`);
    this.state = seed >>> 0;
  }

  /** The next raw 32-bit unsigned value. */
  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform integer in [0, n); rejection sampling keeps it unbiased. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x1_0000_0000) {
      throw new Error(`SplitMix32.nextInt: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    for (let attempt = 0; attempt < 64; attempt++) {
      const v = this.nextU32();
      if (v < limit) return v % n;
    }
    // 64 rejections in a row has probability < 2^-64: treat it as a broken generator.
    throw new Error(`SplitMix32.nextInt(${n}): 64 consecutive rejections`);
  }
}

/** A fresh generator for a given seed; different streams for different labels. */
export function rngFor(seed: number, stream: number): SplitMix32 {
  return new SplitMix32((Math.imul(seed >>> 0, 0x27d4eb2f) ^ Math.imul(stream + 1, 0x165667b1)) >>> 0);
}
