// Progress of a long CLI operation on stderr: a bar (cli-progress) when stderr is a terminal, else
// one plain line each time the count changes, so a log or a test sees every step without the
// terminal's redraws. stdout stays for the command's result.
import { createRequire } from 'node:module';

/** What a progress display needs of its stream (process.stderr, or a test's fake). */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export interface Progress {
  /** Sets the count done (0..total) and a short note after it. */
  update(done: number, note?: string): void;
  /** Ends the display (the bar's line is kept). Further updates are ignored. */
  stop(): void;
}

interface Bar {
  start(total: number, value: number, payload?: Record<string, string>): void;
  update(value: number, payload?: Record<string, string>): void;
  stop(): void;
}
const require = createRequire(import.meta.url);

/** A progress display of `label` towards `total` (≥ 1) on `stream`. */
export function createProgress(
  label: string,
  total: number,
  stream: ProgressStream = process.stderr,
): Progress {
  if (!(Number.isSafeInteger(total) && total >= 1))
    throw new Error(`progress total ${total} is not an integer >= 1`);
  return stream.isTTY === true ? barProgress(label, total, stream) : lineProgress(label, total, stream);
}

function clamp(done: number, total: number): number {
  return Math.max(0, Math.min(total, done));
}

function lineProgress(label: string, total: number, stream: ProgressStream): Progress {
  let last: string | undefined;
  let stopped = false;
  return {
    update(done, note = '') {
      if (stopped) return;
      const line = `${label}: ${clamp(done, total)}/${total}${note === '' ? '' : ` ${note}`}`;
      if (line === last) return;
      last = line;
      stream.write(`${line}\n`);
    },
    stop() {
      stopped = true;
    },
  };
}

function barProgress(label: string, total: number, stream: ProgressStream): Progress {
  const cliProgress = require('cli-progress') as {
    SingleBar: new (opts: Record<string, unknown>, preset: unknown) => Bar;
    Presets: { shades_classic: unknown };
  };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} {note}`, stream, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { note: '' });
  let stopped = false;
  return {
    update(done, note = '') {
      if (!stopped) bar.update(clamp(done, total), { note });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
