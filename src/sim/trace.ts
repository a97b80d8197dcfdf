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
  /** Ring buffers of the most recent lines and their times (kept apart: no string per event). */
  private readonly tailLines: string[] = [];
  private readonly tailTimes: number[] = [];
  private tailNext = 0;
  readonly lines: string[] | undefined;
  private count = 0;

  constructor(keepAll: boolean) {
    this.lines = keepAll ? [] : undefined;
  }

  /** Records one event line, stamped with its virtual time. */
  add(nowMs: number, line: string): void {
    this.hash.addTime(nowMs);
    this.hash.addString(line);
    this.count++;
    if (this.tailLines.length < TAIL_LINES_MAX) {
      this.tailLines.push(line);
      this.tailTimes.push(nowMs);
    } else {
      this.tailLines[this.tailNext] = line;
      this.tailTimes[this.tailNext] = nowMs;
    }
    this.tailNext = (this.tailNext + 1) % TAIL_LINES_MAX;
    if (this.lines !== undefined && this.lines.length < FULL_LINES_MAX) this.lines.push(`${nowMs} ${line}`);
  }

  get lineCount(): number {
    return this.count;
  }

  hashHex(): string {
    return this.hash.hex();
  }

  /** The most recent lines, oldest first, stamped with their virtual time. */
  recent(n = TAIL_LINES_MAX): string[] {
    const size = this.tailLines.length;
    const start = size < TAIL_LINES_MAX ? 0 : this.tailNext;
    const out: string[] = [];
    for (let k = 0; k < size; k++) {
      const i = (start + k) % size;
      out.push(`${this.tailTimes[i]} ${this.tailLines[i]}`);
    }
    return out.slice(Math.max(0, out.length - n));
  }
}
