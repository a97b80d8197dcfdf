// The Clock (src/node/clock.ts) of one node incarnation, on the world's virtual time: every timer is
// an event in the world's one queue, so the events of all nodes run one at a time in a single order
// decided by (time, insertion), and the world lets each one's promise continuations settle before
// the next (world.ts). When the incarnation dies (a crash), its clock stops: none of its timers fire
// again, as none of a killed process's would. While it is paused (SIGSTOP, a long GC), the timers
// that fall due wait, and fire late, in order, when it resumes (`hold`).
import type { Clock, Timer } from '../../node/clock.ts';

/** What the clock needs of the world: its time, and a place in its queue. */
export interface WorldTime {
  nowMs(): number;
  /** Runs `fn` as its own event `delayMs` (>= 0) from now. */
  schedule(delayMs: number, fn: () => void): void;
}

/** Runs `fn` now, or when the incarnation resumes if it is paused. */
export type Hold = (fn: () => void) => void;

interface SimTimer {
  cancelled: boolean;
}

export class SimClock implements Clock {
  private readonly world: WorldTime;
  private readonly hold: Hold;
  /** False once the incarnation died: nothing set on this clock runs again. */
  private alive = true;
  /** Timers set and not yet fired or cancelled (a repeating one counts until cancelled). */
  private live = 0;

  constructor(world: WorldTime, hold: Hold) {
    this.world = world;
    this.hold = hold;
  }

  nowMs(): number {
    return this.world.nowMs();
  }

  after(delayMs: number, fn: () => void): Timer {
    if (!(delayMs >= 0 && Number.isFinite(delayMs)))
      throw new Error(`sim clock: timer delay ${delayMs} ms is not a finite time >= 0`);
    const t: SimTimer = { cancelled: false };
    this.live++;
    this.world.schedule(delayMs, () =>
      this.hold(() => {
        if (t.cancelled || !this.alive) return;
        t.cancelled = true;
        this.live--;
        fn();
      }),
    );
    return t as unknown as Timer;
  }

  every(intervalMs: number, fn: () => void): Timer {
    if (!(intervalMs > 0 && Number.isFinite(intervalMs)))
      throw new Error(`sim clock: timer interval ${intervalMs} ms is not > 0`);
    const t: SimTimer = { cancelled: false };
    this.live++;
    // The next run is due an interval after this one ran (late, after a pause), as Node's do.
    const fire = (): void => {
      if (t.cancelled || !this.alive) return;
      this.world.schedule(intervalMs, () => this.hold(fire));
      fn();
    };
    this.world.schedule(intervalMs, () => this.hold(fire));
    return t as unknown as Timer;
  }

  cancel(timer: Timer): void {
    const t = timer as unknown as SimTimer;
    if (t.cancelled) return;
    t.cancelled = true;
    this.live--;
  }

  defer(fn: () => void): void {
    this.world.schedule(0, () =>
      this.hold(() => {
        if (this.alive) fn();
      }),
    );
  }

  /** The incarnation died: no timer of it fires any more. */
  stop(): void {
    this.alive = false;
  }

  /** Timers set and neither fired (one-shot) nor cancelled. */
  get pendingTimers(): number {
    return this.live;
  }
}
