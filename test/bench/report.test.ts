// The benchmark's before/after statistics: throughput ratios rep by rep and the distribution-free
// confidence interval of their median.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunResult } from '../../bench/load.ts';
import { medianCi95, type Point, pairedRatios } from '../../bench/report.ts';

const point = (system: string, rep: number, opsPerSec: number, workload = 'put-64'): Point => ({
  system,
  workload,
  valueBytes: 256,
  client: 'leader',
  rep,
  result: { opsPerSec } as RunResult,
});

describe('medianCi95', () => {
  it('has no interval below 6 values (the sign test cannot reach 95 %)', () => {
    assert.equal(medianCi95([1, 2, 3, 4, 5]), undefined);
  });
  it('is the extremes at 6 to 8 values, the 2nd and 9th of 10, the 6th and 15th of 20', () => {
    assert.deepEqual(medianCi95([6, 1, 5, 2, 4, 3]), [1, 6]);
    assert.deepEqual(medianCi95([8, 7, 6, 5, 4, 3, 2, 1]), [1, 8]);
    assert.deepEqual(medianCi95([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]), [2, 9]);
    const twenty = Array.from({ length: 20 }, (_, i) => 20 - i);
    assert.deepEqual(medianCi95(twenty), [6, 15]);
  });
});

describe('pairedRatios', () => {
  it('divides within each rep, skips reps one system lacks, and keeps workloads apart', () => {
    const points = [
      point('new', 1, 90),
      point('old', 1, 100),
      point('old', 2, 50),
      point('new', 2, 60),
      point('new', 3, 70),
      point('new', 1, 300, 'get-lin-64'),
      point('old', 1, 200, 'get-lin-64'),
    ];
    const rows = pairedRatios(points, 'new', 'old');
    assert.deepEqual(
      rows.map((r) => [r.workload, r.ratios, r.median]),
      [
        ['put-64', [0.9, 1.2], 1.05],
        ['get-lin-64', [1.5], 1.5],
      ],
    );
  });
});
