// Reading a node's metrics as its admin port serves them (Prometheus text exposition, /metrics).

/**
 * The sum of the samples of metric `name` in `text` whose labels contain `having` (e.g.
 * `grpc_method="Put"`; empty: every sample, so an unlabelled metric's one value). NaN when no
 * sample matches, so that a metric a build lacks shows as missing, not as 0.
 */
export function metricTotal(text: string, name: string, having = ''): number {
  let sum = Number.NaN;
  for (const line of text.split('\n')) {
    const labelled = line.startsWith(`${name}{`);
    if (!labelled && !line.startsWith(`${name} `)) continue;
    const seriesEnd = labelled ? line.lastIndexOf('}') + 1 : name.length;
    if (having !== '' && !line.slice(name.length, seriesEnd).includes(having)) continue;
    // The value, then an optional timestamp.
    const value = Number(line.slice(seriesEnd).trim().split(' ')[0]);
    sum = Number.isNaN(sum) ? value : sum + value;
  }
  return sum;
}
