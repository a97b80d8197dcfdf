// A preload for the ringkv nodes under test (`--import`, added by compare.ts with --keys or
// --event-loop): the event-loop delay of the node's main thread, measured without touching src/.
// perf_hooks.monitorEventLoopDelay fires a timer every RESOLUTION_MS and records the time between
// firings; on SIGUSR2 the probe writes what it recorded since the previous SIGUSR2 (count,
// percentiles and max, minus the timer's own period, so 0 means on time; and the event-loop
// utilization) to $RINGKV_BENCH_EVENT_LOOP_DIR/event-loop.<pid>.json and starts afresh. `seq`
// counts the reports, so the reader knows a fresh one from the last.
// ringkv itself does not handle SIGUSR2 (so the probe changes nothing else of the node).
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

/** Node's default: a timer every 10 ms, 100 samples a second, negligible CPU. */
const RESOLUTION_MS = 10;
const dir = process.env.RINGKV_BENCH_EVENT_LOOP_DIR;

if (isMainThread && dir !== undefined && dir !== '') {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  let elu = performance.eventLoopUtilization();
  let seq = 0;
  const delayMs = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  process.on('SIGUSR2', () => {
    const now = performance.eventLoopUtilization();
    const report = {
      seq: ++seq,
      pid: process.pid,
      samples: histogram.count,
      p50Ms: delayMs(histogram.percentile(50)),
      p99Ms: delayMs(histogram.percentile(99)),
      p999Ms: delayMs(histogram.percentile(99.9)),
      maxMs: delayMs(histogram.max),
      utilization: performance.eventLoopUtilization(now, elu).utilization,
    };
    histogram.reset();
    elu = now;
    const file = join(dir, `event-loop.${process.pid}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(report));
    renameSync(`${file}.tmp`, file);
  });
}
