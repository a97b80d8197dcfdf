import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { Buckets, registerArrayHistogram, unlabelledHistogram } from './array-histogram.ts';

describe('Buckets', () => {
  it('counts each value in the first bucket whose bound is at or above it, the rest in +Inf', () => {
    const b = new Buckets([0.1, 1, 10]);
    for (const v of [0.05, 0.1, 0.5, 1, 3, 10, 11, 1000]) b.observe(v);
    assert.deepEqual([...b.counts], [2, 2, 2, 2]);
    assert.equal(b.count, 8);
    assert.ok(Math.abs(b.sum - 1025.65) < 1e-9, `sum ${b.sum}`);
  });

  it('refuses bounds that do not increase', () => {
    assert.throws(() => new Buckets([1, 1]), /bounds must increase: 1 then 1/);
    assert.throws(() => new Buckets([2, 1]), /bounds must increase/);
  });
});

describe('array histograms in the registry', () => {
  it('expose cumulative buckets, sum and count in the Prometheus text, as prom-client does', async () => {
    const registry = new Registry();
    const h = unlabelledHistogram(registry, 'x_seconds', 'X.', [0.5, 2]);
    h.observe(0.25);
    h.observe(1);
    h.observe(5);
    const text = await registry.metrics();
    assert.match(text, /# HELP x_seconds X\.\n# TYPE x_seconds histogram/);
    assert.match(text, /x_seconds_bucket\{le="0.5"\} 1\n/);
    assert.match(text, /x_seconds_bucket\{le="2"\} 2\n/);
    assert.match(text, /x_seconds_bucket\{le="\+Inf"\} 3\n/);
    assert.match(text, /x_seconds_sum 6.25\n/);
    assert.match(text, /x_seconds_count 3\n/);
  });

  it('reads its series at each scrape, labelled, and leaves out those without observations', async () => {
    const registry = new Registry();
    const series: { labels: Record<string, string>; buckets: Buckets }[] = [];
    registerArrayHistogram(registry, 'y_seconds', 'Y.', () => series);
    series.push({ labels: { m: 'a' }, buckets: new Buckets([1]) });
    series.push({ labels: { m: 'b' }, buckets: new Buckets([1]) });
    series[1]?.buckets.observe(0.5);
    const text = await registry.metrics();
    assert.match(text, /y_seconds_bucket\{m="b",le="1"\} 1\n/);
    assert.match(text, /y_seconds_count\{m="b"\} 1\n/);
    assert.doesNotMatch(text, /m="a"/);
    await registry.resetMetrics();
    assert.match(await registry.metrics(), /y_seconds_count\{m="b"\} 1\n/, 'a reset keeps the counts');
  });
});
