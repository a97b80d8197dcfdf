// What happened when, during a chaos run: each line is printed as progress and appended to the run
// folder's timeline.log, stamped with the seconds since the run started.
import { appendFileSync } from 'node:fs';

export class Timeline {
  /** When the run started, in ms since the epoch (the clock of the nodes' JSON logs). */
  readonly t0Ms: number;
  private readonly path: string | undefined;
  private readonly print: (line: string) => void;

  constructor(print: (line: string) => void, path?: string, t0Ms = Date.now()) {
    this.print = print;
    this.path = path;
    this.t0Ms = t0Ms;
  }

  /** Milliseconds since the run started. */
  get elapsedMs(): number {
    return Date.now() - this.t0Ms;
  }

  log(text: string): void {
    const line = `${stamp(this.elapsedMs)} ${text}`;
    this.print(line);
    if (this.path !== undefined) appendFileSync(this.path, `${line}\n`);
  }
}

/** `+  12.3s`: right-aligned so that the lines read as a column. */
export function stamp(ms: number): string {
  return `+${(ms / 1000).toFixed(1).padStart(6)}s`;
}
