// The event trace of one run. Every line is hashed (so determinism can be checked cheaply on every
// run); lines are only kept in full when asked for (--trace), and the last few are always kept for
// the excerpt printed with a violation.
import { Fnv64 } from './hash.ts';

/** How many recent lines are kept for a violation's excerpt. */
const TAIL_LINES_MAX = 40;
/** Bound on the full trace kept in memory with --trace. */
const FULL_LINES_MAX = 2_000_000;

export class Trace {
  private readonly hash = new Fnv64();
  private readonly tail: string[] = [];
  private tailNext = 0;
  readonly lines: string[] | undefined;
  private count = 0;

  constructor(keepAll: boolean) {
    this.lines = keepAll ? [] : undefined;
  }

  /** Records one event line, stamped with its virtual time. */
  add(nowMs: number, line: string): void {
    const stamped = `${nowMs} ${line}`;
    this.hash.addString(stamped);
    this.count++;
    if (this.tail.length < TAIL_LINES_MAX) this.tail.push(stamped);
    else this.tail[this.tailNext] = stamped;
    this.tailNext = (this.tailNext + 1) % TAIL_LINES_MAX;
    if (this.lines !== undefined && this.lines.length < FULL_LINES_MAX) this.lines.push(stamped);
  }

  get lineCount(): number {
    return this.count;
  }

  hashHex(): string {
    return this.hash.hex();
  }

  /** The most recent lines, oldest first. */
  recent(n = TAIL_LINES_MAX): string[] {
    const ordered =
      this.tail.length < TAIL_LINES_MAX
        ? this.tail.slice()
        : [...this.tail.slice(this.tailNext), ...this.tail.slice(0, this.tailNext)];
    return ordered.slice(Math.max(0, ordered.length - n));
  }
}
