// A request waiting on Raft (a proposal to commit and apply, or a read to become safe), with its
// deadline. Every waiting request is counted against the node's bound; the count drops when the
// request settles (resolved, failed, or timed out), exactly once.
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

/** A promise that settles once: by resolve, by fail, or with UNAVAILABLE when the deadline passes. */
export class Pending<T> {
  readonly promise: Promise<T>;
  private settled = false;
  private resolveFn!: (v: T) => void;
  private rejectFn!: (e: unknown) => void;
  private readonly timer: NodeJS.Timeout;
  private readonly budget: PendingBudget;

  /** Throws ResourceExhaustedError when the budget is full. `timeoutMessage` explains a missed deadline. */
  constructor(budget: PendingBudget, deadlineMs: number, timeoutMessage: () => UnavailableError) {
    budget.acquire();
    this.budget = budget;
    this.promise = new Promise<T>((res, rej) => {
      this.resolveFn = res;
      this.rejectFn = rej;
    });
    const delayMs = Math.max(0, deadlineMs - Date.now());
    this.timer = setTimeout(() => this.fail(timeoutMessage()), delayMs);
  }

  get done(): boolean {
    return this.settled;
  }

  resolve(v: T): void {
    if (this.settle()) this.resolveFn(v);
  }

  fail(e: unknown): void {
    if (this.settle()) this.rejectFn(e);
  }

  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    clearTimeout(this.timer);
    this.budget.release();
    return true;
  }
}
