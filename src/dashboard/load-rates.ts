// A node's throughput and latency between two of its Status reports: each report carries the
// node's counters since it started (RequestLoad: KVService calls answered, failed, and counts per
// latency bucket, with the node's uptime when they were read), so the rates over the interval are
// differences divided by the uptime between them. Pure, tested directly.
import assert from 'node:assert/strict';
import type { RequestLoad } from '../client/index.ts';

/** One node's requests over an interval. */
export interface LoadRates {
  /** KVService calls answered per second. */
  readonly requestsPerSecond: number;
  /** Of them, answered with a status other than OK, per second. */
  readonly failedPerSecond: number;
  /**
   * Latency quantiles of the interval's calls, in ms, interpolated inside their bucket; null when no
   * call was answered. A quantile in the last bucket (above every bound) is that bucket's lower bound.
   */
  readonly latencyP50Ms: number | null;
  readonly latencyP99Ms: number | null;
  /** Length of the interval, ms (of the node's own clock). */
  readonly intervalMs: number;
}

/** Intervals shorter than this give rates too noisy to show: the older sample is kept instead. */
export const INTERVAL_MS_MIN = 250;
/** Intervals longer than this are not "live": the rates are not computed (null). */
export const INTERVAL_MS_MAX = 30_000;

/**
 * The rates between `older` and `newer`, two reports of the same node, or null when they cannot be
 * compared: the node restarted between them (its uptime went back, or a counter did), the interval
 * is outside [INTERVAL_MS_MIN, INTERVAL_MS_MAX], or the buckets differ.
 */
export function loadRates(older: RequestLoad, newer: RequestLoad): LoadRates | null {
  const intervalMs = Number(newer.uptimeMs - older.uptimeMs);
  if (intervalMs < INTERVAL_MS_MIN || intervalMs > INTERVAL_MS_MAX) return null;
  if (newer.requests < older.requests || newer.failed < older.failed) return null;
  const bounds = newer.latencyBoundsSeconds;
  const sameBuckets =
    older.latencyBoundsSeconds.length === bounds.length &&
    older.latencyBoundsSeconds.every((b, i) => b === bounds[i]) &&
    older.latencyCounts.length === bounds.length + 1 &&
    newer.latencyCounts.length === bounds.length + 1;
  if (!sameBuckets) return null;
  const counts = newer.latencyCounts.map((n, i) => Number(n - older.latencyCounts[i]!));
  if (counts.some((n) => n < 0)) return null;
  const requests = Number(newer.requests - older.requests);
  const total = counts.reduce((a, n) => a + n, 0);
  assert.equal(total, requests, `the latency buckets count the ${requests} calls of the interval`);
  const seconds = intervalMs / 1000;
  return {
    requestsPerSecond: requests / seconds,
    failedPerSecond: Number(newer.failed - older.failed) / seconds,
    latencyP50Ms: quantileMs(bounds, counts, 0.5),
    latencyP99Ms: quantileMs(bounds, counts, 0.99),
    intervalMs,
  };
}

/**
 * The q-quantile (0 < q <= 1) of a histogram, in ms: the bucket where the cumulative count reaches
 * q of the total, interpolated linearly between its bounds (the first bucket starts at 0). Null for
 * an empty histogram.
 */
export function quantileMs(
  boundsSeconds: readonly number[],
  counts: readonly number[],
  q: number,
): number | null {
  assert.ok(q > 0 && q <= 1, `a quantile is in (0, 1]: ${q}`);
  assert.equal(counts.length, boundsSeconds.length + 1, 'one bucket per bound, and one above them');
  const total = counts.reduce((a, n) => a + n, 0);
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let b = 0; b < counts.length; b++) {
    const n = counts[b]!;
    if (n > 0 && below + n >= rank) {
      const lower = b === 0 ? 0 : boundsSeconds[b - 1]!;
      const upper = boundsSeconds[b];
      if (upper === undefined) return lower * 1000;
      return (lower + ((upper - lower) * (rank - below)) / n) * 1000;
    }
    below += n;
  }
  // Unreachable: the loop reaches `total` >= rank in the last non-empty bucket.
  assert.fail(`no bucket reached rank ${rank} of ${total}`);
}
