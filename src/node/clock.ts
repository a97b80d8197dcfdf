// The node's time: what it reads as "now" and the timers it sets. The node never reads the system
// clock or sets a timer of its own (scripts/check-layers.ts rejects it): every module that needs
// time is handed the part of a Clock it needs. Two implementations: SYSTEM_CLOCK (system.ts: the
// wall clock and Node's timers, what `ringkv serve` runs on) and ManualClock (manual-clock.ts:
// virtual time that moves only when told to, for tests and the simulator); the node cannot tell
// them apart.

declare const timerBrand: unique symbol;

/** A timer set by `after` or `every`: opaque, read only by the `cancel` of the clock that set it. */
export type Timer = { readonly [timerBrand]: true };

/**
 * Time, in milliseconds, and callbacks at times of it.
 *
 * Scale: `nowMs()` is on the scale of every `deadlineMs` the node is handed (proposals, reads,
 * joins): the deadlines its callers compute must come from the same clock. For SYSTEM_CLOCK that is
 * the wall clock (Unix epoch ms), which may step backwards when the system time is set; the node
 * only compares deadlines with it, and never assumes it increases.
 *
 * Concurrency: callbacks run on the event loop, one at a time, never from inside the call that set
 * them (not even `after(0, …)` or `defer`), so the caller may finish its own work first. Each call
 * of `after`/`every` sets a new, independent timer.
 *
 * Order: timers due at the same time run in the order they were set; a callback runs no earlier than
 * its due time, and may run later (a busy event loop, a paused process), as Node's timers do.
 */
export interface Clock {
  /** The current time in ms (see Scale). */
  nowMs(): number;
  /** Runs `fn` once, `delayMs` (≥ 0) from now, unless cancelled first. */
  after(delayMs: number, fn: () => void): Timer;
  /** Runs `fn` every `intervalMs` (> 0) from now on, until cancelled. */
  every(intervalMs: number, fn: () => void): Timer;
  /** Stops `timer` (a timer that already fired or was cancelled: nothing happens). */
  cancel(timer: Timer): void;
  /**
   * Runs `fn` once, as soon as the calls already under way have returned, and before the timers
   * due after now (Node's setImmediate: after the I/O callbacks of this loop turn). No time passes.
   * The driver schedules its Ready turns with it.
   */
  defer(fn: () => void): void;
}

/** Resolves `ms` from now on `clock` (a retry's wait). */
export function sleep(clock: Pick<Clock, 'after'>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    clock.after(ms, resolve);
  });
}
