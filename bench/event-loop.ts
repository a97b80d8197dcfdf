// The bench's side of bench/event-loop-probe.ts: starts a window on every probed node (SIGUSR2:
// the probe reports and resets, the report is dropped) and ends it (SIGUSR2 again: the report of
// the window is read back). Only processes started with the probe may be signalled: without a
// handler, SIGUSR2 ends a Node process.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { WindowProbe } from './load.ts';

/** One node's event-loop delay over a measured window (ms past the due time of a 10 ms timer). */
export interface EventLoopDelay {
  readonly pid: number;
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** Share of the window the event loop was busy (0..1). */
  readonly utilization: number;
}

/** The environment variable that turns the probe on, naming where it writes. */
export const PROBE_DIR_ENV = 'RINGKV_BENCH_EVENT_LOOP_DIR';

/** The Node flag that loads the probe into a node (an absolute URL: baselines run from elsewhere). */
export function probeNodeArg(): string {
  return `--import=${pathToFileURL(resolve(import.meta.dirname, 'event-loop-probe.ts')).href}`;
}

/** How long a node may take to answer (its event loop may be stalled by a GC or a snapshot). */
const REPORT_TIMEOUT_MS = 10_000;
const POLL_MS = 20;

export class EventLoopProbe implements WindowProbe {
  private readonly dir: string;
  private readonly pids: readonly number[];
  /** The last report's seq per pid (0: none yet). */
  private readonly seqs = new Map<number, number>();

  constructor(dir: string, pids: readonly number[]) {
    this.dir = dir;
    this.pids = pids;
    for (const p of pids) this.seqs.set(p, 0);
  }

  begin(): void {
    this.signal();
  }

  async end(): Promise<EventLoopDelay[]> {
    // The reports asked for by begin() may still be on their way: wait for them first.
    const expected = new Map(this.pids.map((p) => [p, (this.seqs.get(p) ?? 0) + 1]));
    await Promise.all(this.pids.map((p) => this.read(p, expected.get(p) as number)));
    this.signal();
    return Promise.all(this.pids.map((p) => this.read(p, (expected.get(p) as number) + 1)));
  }

  private signal(): void {
    for (const p of this.pids) process.kill(p, 'SIGUSR2');
  }

  /** Waits for report `seq` of `pid` (or a later one: a window's start may have been late). */
  private async read(pid: number, seq: number): Promise<EventLoopDelay> {
    const file = join(this.dir, `event-loop.${pid}.json`);
    const end = performance.now() + REPORT_TIMEOUT_MS;
    for (;;) {
      if (existsSync(file)) {
        const r = JSON.parse(readFileSync(file, 'utf8')) as EventLoopDelay & { seq: number };
        if (r.seq >= seq) {
          this.seqs.set(pid, r.seq);
          return {
            pid,
            samples: r.samples,
            p50Ms: r.p50Ms,
            p99Ms: r.p99Ms,
            p999Ms: r.p999Ms,
            maxMs: r.maxMs,
            utilization: r.utilization,
          };
        }
      }
      if (performance.now() > end) throw new Error(`event-loop probe of pid ${pid}: no report ${seq}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}
