// The node's seams for time and randomness onto the real world: the wall clock and Node's timers,
// and Math.random. The only file of src/node that may touch them (scripts/check-layers.ts); they
// are wired in as the defaults of NodeOptions (options.ts), so `ringkv serve` and the tests run on
// them, and a simulator hands in its own.
import type { Clock, Timer } from './clock.ts';
import type { Random } from './random.ts';

/** A Node.js timer as the seam's opaque handle (only SYSTEM_CLOCK.cancel reads it back). */
function asTimer(t: NodeJS.Timeout): Timer {
  return t as unknown as Timer;
}

/**
 * Date.now and Node's timers. The timers keep the process alive (none is unref'd): the node stops
 * them all in close(). A delay under 1 ms runs after 1 ms, as setTimeout does.
 */
export const SYSTEM_CLOCK: Clock = {
  nowMs: () => Date.now(),
  after: (delayMs, fn) => asTimer(setTimeout(fn, delayMs)),
  every: (intervalMs, fn) => {
    if (!(intervalMs > 0))
      throw new Error(`a repeating timer needs an interval above 0 ms, got ${intervalMs}`);
    return asTimer(setInterval(fn, intervalMs));
  },
  // clearTimeout clears an interval too (Node documents the two as interchangeable).
  cancel: (timer) => clearTimeout(timer as unknown as NodeJS.Timeout),
  defer: (fn) => {
    setImmediate(fn);
  },
};

/** Math.random: seeded by V8 from the operating system's entropy at process start. */
export const SYSTEM_RANDOM: Random = {
  nextInt: (n) => {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 48)
      throw new Error(`nextInt(n) needs an integer n in [1, 2^48], got ${n}`);
    return Math.floor(Math.random() * n);
  },
};
