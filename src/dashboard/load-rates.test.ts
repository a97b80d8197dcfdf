// Rates and latency quantiles between two of a node's load reports.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { RequestLoad } from '../client/index.ts';
import { INTERVAL_MS_MAX, loadRates, quantileMs } from './load-rates.ts';

const BOUNDS = [0.001, 0.01, 0.1];

function load(uptimeMs: number, counts: readonly number[], failed = 0): RequestLoad {
  return {
    uptimeMs: BigInt(uptimeMs),
    requests: BigInt(counts.reduce((a, n) => a + n, 0)),
    failed: BigInt(failed),
    latencyBoundsSeconds: BOUNDS,
    latencyCounts: counts.map((n) => BigInt(n)),
  };
}

describe('loadRates', () => {
  it('requests and failures per second over the uptime between the reports', () => {
    const r = loadRates(load(10_000, [0, 0, 0, 0]), load(12_000, [100, 100, 0, 0], 4));
    assert.deepEqual(r && { ...r, latencyP99Ms: Number(r.latencyP99Ms?.toFixed(6)) }, {
      requestsPerSecond: 100,
      failedPerSecond: 2,
      latencyP50Ms: 1, // the 100th of 200 is the last of the first bucket, (0, 1 ms]
      latencyP99Ms: 9.82, // the 198th: 98 % of the way through the 100 in (1, 10] ms
      intervalMs: 2000,
    });
  });

  it('no calls in the interval: 0 per second and no latency', () => {
    const same = load(1000, [5, 1, 0, 0]);
    assert.deepEqual(loadRates(same, { ...same, uptimeMs: 2000n }), {
      requestsPerSecond: 0,
      failedPerSecond: 0,
      latencyP50Ms: null,
      latencyP99Ms: null,
      intervalMs: 1000,
    });
  });

  it('not comparable: a restart (uptime or a counter went back), too short or too long, other buckets', () => {
    assert.equal(loadRates(load(5000, [9, 0, 0, 0]), load(4000, [10, 0, 0, 0])), null);
    assert.equal(loadRates(load(5000, [9, 0, 0, 0]), load(6000, [3, 0, 0, 0])), null);
    assert.equal(loadRates(load(5000, [0, 0, 0, 0]), load(5100, [1, 0, 0, 0])), null);
    assert.equal(loadRates(load(0, [0, 0, 0, 0]), load(INTERVAL_MS_MAX + 1, [1, 0, 0, 0])), null);
    const other = { ...load(6000, [1, 0, 0, 0]), latencyBoundsSeconds: [0.002, 0.01, 0.1] };
    assert.equal(loadRates(load(5000, [0, 0, 0, 0]), other), null);
  });

  it('a quantile above every bound is the largest bound', () => {
    const r = loadRates(load(0, [0, 0, 0, 0]), load(1000, [0, 0, 0, 10]));
    assert.equal(r?.latencyP50Ms, 100);
  });
});

describe('quantileMs', () => {
  it('stays within the bucket that holds the rank, and grows with q', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(50), { minLength: 4, maxLength: 4 }).filter((c) => c.some((n) => n > 0)),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        (counts, q1, q2) => {
          const [lo, hi] = q1 <= q2 ? [q1, q2] : [q2, q1];
          const a = quantileMs(BOUNDS, counts, lo)!;
          const b = quantileMs(BOUNDS, counts, hi)!;
          assert.ok(a <= b + 1e-9, `q ${lo} → ${a} ms, q ${hi} → ${b} ms`);
          assert.ok(a >= 0 && b <= 100, `${a}, ${b} within [0, 100] ms`);
        },
      ),
    );
  });

  it('an empty histogram has no quantile', () => {
    assert.equal(quantileMs(BOUNDS, [0, 0, 0, 0], 0.5), null);
  });
});
