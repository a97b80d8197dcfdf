// The in-memory twin of SYSTEM_CLOCK: virtual time that moves only when `advance` says so, for the
// node's tests and the simulator. Same contract (clock.ts); what differs is only when callbacks run:
// during `advance`, each at its due time (nowMs() then reads that time), in due-time order, ties in
// the order they were set. Deferred callbacks are due now. No real time passes and nothing touches
// the event loop, so a run is the same every time.
//
// Promises settled by a callback continue only after `advance` returns (microtasks do not run inside
// a synchronous call): a driver of many nodes that needs each event's continuations to run before
// the next event advances to `nextDueMs()` one step at a time and lets its promises settle between.

import { assert } from './assert.ts';
import type { Clock, Timer } from './clock.ts';

interface Scheduled {
  /** Invariant: dueMs >= the clock's nowMs (a due timer fires before time moves past it). */
  dueMs: number;
  /** Set order, renewed each time a repeating timer is set again: breaks ties between equal dueMs. */
  seq: number;
  /** Undefined for a one-shot timer (after, defer); > 0 for a repeating one. */
  readonly intervalMs: number | undefined;
  readonly fn: () => void;
}

/** Callbacks one `advance` may run: a bound against a timer that keeps deferring itself. */
const CALLBACKS_PER_ADVANCE_MAX = 1_000_000;

export class ManualClock implements Clock {
  private now: number;
  private seq = 0;
  /** Timers set and neither fired (one-shot) nor cancelled, by handle. */
  private readonly timers = new Map<Timer, Scheduled>();

  /** Time starts at `startMs` (a value far from the wall clock shows a read of the real one in a test). */
  constructor(startMs = 0) {
    assert(Number.isFinite(startMs), `manual clock start ${startMs} is not a finite time`);
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  after(delayMs: number, fn: () => void): Timer {
    assert(delayMs >= 0 && Number.isFinite(delayMs), `timer delay ${delayMs} ms is not a finite time ≥ 0`);
    return this.set(this.now + delayMs, undefined, fn);
  }

  every(intervalMs: number, fn: () => void): Timer {
    assert(intervalMs > 0 && Number.isFinite(intervalMs), `timer interval ${intervalMs} ms is not > 0`);
    return this.set(this.now + intervalMs, intervalMs, fn);
  }

  cancel(timer: Timer): void {
    this.timers.delete(timer);
  }

  defer(fn: () => void): void {
    this.set(this.now, undefined, fn);
  }

  /** Timers waiting to fire (a repeating one counts once until cancelled). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** When the next timer is due, or undefined when none is set. */
  nextDueMs(): number | undefined {
    return this.next()?.dueMs;
  }

  /**
   * Moves time `ms` (≥ 0) forward, running every callback due by then, each at its due time: a
   * callback that sets a timer due within the step sees it run in the same call. Returns how many
   * callbacks ran.
   */
  advance(ms: number): number {
    assert(ms >= 0 && Number.isFinite(ms), `cannot advance a clock by ${ms} ms`);
    const targetMs = this.now + ms;
    let ran = 0;
    for (let t = this.next(); t !== undefined && t.dueMs <= targetMs; t = this.next()) {
      assert(ran < CALLBACKS_PER_ADVANCE_MAX, `${ran} callbacks in one advance of ${ms} ms: a timer loop?`);
      const [handle, s] = t.entry;
      assert(s.dueMs >= this.now, `timer due at ${s.dueMs} ms is behind the clock at ${this.now} ms`);
      this.now = s.dueMs;
      if (s.intervalMs === undefined) this.timers.delete(handle);
      else {
        s.dueMs += s.intervalMs;
        s.seq = this.seq++;
      }
      ran++;
      s.fn();
    }
    this.now = targetMs;
    return ran;
  }

  private set(dueMs: number, intervalMs: number | undefined, fn: () => void): Timer {
    const handle = {} as Timer;
    this.timers.set(handle, { dueMs, seq: this.seq++, intervalMs, fn });
    return handle;
  }

  /**
   * The timer to run first: the earliest due, then the first set. A scan of every timer (one per
   * waiting request, plus a handful): enough for tests; a long simulation may want a heap.
   */
  private next(): { entry: [Timer, Scheduled]; dueMs: number } | undefined {
    let best: [Timer, Scheduled] | undefined;
    for (const entry of this.timers) {
      const s = entry[1];
      if (best === undefined || s.dueMs < best[1].dueMs || (s.dueMs === best[1].dueMs && s.seq < best[1].seq))
        best = entry;
    }
    return best === undefined ? undefined : { entry: best, dueMs: best[1].dueMs };
  }
}
