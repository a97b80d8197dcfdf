// A request waiting on Raft (a proposal to commit and apply, or a read to become safe), with its
// deadline. Every waiting request is counted against the node's bound; the count drops when the
// request settles (resolved, failed, or timed out), exactly once.
import type { Clock, Timer } from './clock.ts';
import { ResourceExhaustedError, type UnavailableError } from './errors.ts';

/** Counts waiting requests and refuses new ones beyond `max`. */
export class PendingBudget {
  private count = 0;
  readonly max: number;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1)
      throw new Error(`pending budget must be a positive integer, got ${max}`);
    this.max = max;
  }

  get waiting(): number {
    return this.count;
  }

  /** Takes one slot or throws ResourceExhaustedError (the request was not started). */
  acquire(): void {
    if (this.count >= this.max) {
      throw new ResourceExhaustedError(
        `too many requests are waiting on this node (${this.count}, the bound is ${this.max}); retry later or send to another node`,
      );
    }
    this.count++;
  }

  release(): void {
    if (this.count <= 0)
      throw new Error(`pending budget released more often than acquired (count ${this.count})`);
    this.count--;
  }
}

/** What a waiting request needs of the clock: its deadline's timer. */
export type PendingClock = Pick<Clock, 'nowMs' | 'after' | 'cancel'>;

/** A promise that settles once: by resolve, by fail, or with UNAVAILABLE when the deadline passes. */
export class Pending<T> {
  readonly promise: Promise<T>;
  private settled = false;
  private resolveFn!: (v: T) => void;
  private rejectFn!: (e: unknown) => void;
  private readonly timer: Timer;
  private readonly budget: PendingBudget;
  private readonly clock: PendingClock;
  private readonly onFailure: (() => void) | undefined;

  /**
   * Throws ResourceExhaustedError when the budget is full. `deadlineMs` is on `clock`'s scale;
   * `timeoutMessage` explains a missed deadline. `onFailure` runs once if it settles by failing
   * (a shared function, for the metrics: nothing is allocated per request for it).
   */
  constructor(
    budget: PendingBudget,
    clock: PendingClock,
    deadlineMs: number,
    timeoutMessage: () => UnavailableError,
    onFailure?: () => void,
  ) {
    budget.acquire();
    this.budget = budget;
    this.clock = clock;
    this.onFailure = onFailure;
    this.promise = new Promise<T>((res, rej) => {
      this.resolveFn = res;
      this.rejectFn = rej;
    });
    const delayMs = Math.max(0, deadlineMs - clock.nowMs());
    this.timer = clock.after(delayMs, () => this.fail(timeoutMessage()));
  }

  get done(): boolean {
    return this.settled;
  }

  resolve(v: T): void {
    if (this.settle()) this.resolveFn(v);
  }

  fail(e: unknown): void {
    if (!this.settle()) return;
    this.onFailure?.();
    this.rejectFn(e);
  }

  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.clock.cancel(this.timer);
    this.budget.release();
    return true;
  }
}
