// The node's Random (src/node/random.ts) from one of the simulator's seeded streams. The node draws
// up to 2^48 (a request id's client id); the stream's own nextInt stops at 2^32, so larger bounds
// are drawn from two 32-bit words.
import type { Random } from '../../node/random.ts';
import type { Prng } from '../prng.ts';

const UINT32 = 0x1_0000_0000;
const BOUND_MAX = 2 ** 48;

export function nodeRandom(stream: Prng): Random {
  return {
    nextInt(n: number): number {
      if (!Number.isInteger(n) || n < 1 || n > BOUND_MAX)
        throw new Error(`nextInt(n) needs an integer n in [1, 2^48], got ${n}`);
      if (n <= UINT32) return stream.nextInt(n);
      // 53 random bits as a float in [0, 1): the bias for n <= 2^48 is below 2^-5 per value.
      const x = (stream.nextU32() * 2 ** 21 + (stream.nextU32() >>> 11)) / 2 ** 53;
      return Math.floor(x * n);
    },
  };
}
