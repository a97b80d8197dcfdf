// Histograms kept in preallocated arrays and handed to prom-client's registry only when it is
// scraped. prom-client's own `observe` hashes its labels into a new string and makes a closure on
// every call (several hundred ns): too much for what is observed once per request or once per
// driver turn of every node. An observation here is a bucket search, two additions and an array
// increment, with nothing allocated.
import type { Metric, Registry } from 'prom-client';

/** One series' counts. Invariant: `count` is the sum of `counts`; `counts` has one slot per bound plus +Inf. */
export class Buckets {
  /** Upper bounds in seconds, increasing. Shared, never modified. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last slot is above every bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!((bounds[i] as number) > (bounds[i - 1] as number)))
        throw new Error(`histogram bounds must increase: ${bounds[i - 1]} then ${bounds[i]}`);
    }
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let b = 0;
    while (b < bounds.length && value > (bounds[b] as number)) b++;
    this.counts[b] = (this.counts[b] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

/** A labelled series of an ArrayHistogram: read at each scrape. */
export interface HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly buckets: Buckets;
}

type Value = { labels: Record<string, string | number>; value: number; metricName: string };

/**
 * A histogram over Buckets in the shape prom-client's Registry reads from its own Histogram (`get()`:
 * name, help, type, aggregator, and one value per bucket, sum and count of every series that has
 * observations). `series` is read at each scrape, so series may be added later.
 */
class ArrayHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series: () => Iterable<HistogramSeries>;

  constructor(name: string, help: string, series: () => Iterable<HistogramSeries>) {
    this.name = name;
    this.help = help;
    this.series = series;
  }

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Value[] }> {
    const values: Value[] = [];
    for (const { labels, buckets: h } of this.series()) {
      if (h.count === 0) continue;
      let cumulative = 0;
      h.bounds.forEach((le, b) => {
        cumulative += h.counts[b] as number;
        values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: h.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...labels }, value: h.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...labels }, value: h.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }

  /** The registry's resetMetrics(): the counts are the node's own, kept. */
  reset(): void {}
}

/** Registers a histogram named `name` whose series are read from `series()` at each scrape. */
export function registerArrayHistogram(
  registry: Registry,
  name: string,
  help: string,
  series: () => Iterable<HistogramSeries>,
): void {
  registry.registerMetric(new ArrayHistogram(name, help, series) as unknown as Metric);
}

/** Registers an unlabelled histogram with `bounds`; returns the buckets to observe into. */
export function unlabelledHistogram(
  registry: Registry,
  name: string,
  help: string,
  bounds: readonly number[],
): Buckets {
  const buckets = new Buckets(bounds);
  const series = [{ labels: {}, buckets }];
  registerArrayHistogram(registry, name, help, () => series);
  return buckets;
}
