// Summaries (medians over repetitions), the Markdown tables and the SVG chart of a benchmark run.
import type { RunResult } from './load.ts';
import type { ClientMode } from './targets.ts';

export interface Point {
  readonly system: string;
  readonly workload: string;
  readonly valueBytes: number;
  /** How the load generator chose the member for each request. */
  readonly client: ClientMode;
  readonly rep: number;
  readonly result: RunResult;
}

/** What one cluster held in a large-data run (`--keys`). */
export interface Footprint {
  readonly system: string;
  readonly keys: number;
  readonly valueBytes: number;
  /** Wall time of writing every key once (64 in flight, leader routing). */
  readonly preloadS: number;
  /** Preload puts that failed (e.g. a deadline passed during a stall) and were sent again. */
  readonly preloadRetried: number;
  /** Largest VmRSS seen per server process, from the start of the preload to the end of the run. */
  readonly rssMaxBytes: readonly number[];
  /** `du -s` of each server's data directory at the end of the run. */
  readonly diskBytes: readonly number[];
  /** Seconds from restarting a killed (SIGKILL) server process until it said it was ready; absent: not measured. */
  readonly restartS?: number;
}

export interface Summary {
  readonly workload: string;
  readonly valueBytes: number;
  readonly client: ClientMode;
  readonly runs: number;
  /** Medians per system name. */
  readonly by: Record<string, Median>;
}

export interface Median {
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly serverCpuUsPerOp: number;
  readonly clientCpuUsPerOp: number;
  readonly errors: number;
  readonly runs: number;
  /** Per server process (probed ringkv nodes only): medians of the event-loop delay's p99 and max. */
  readonly eventLoop?: readonly { readonly p99Ms: number; readonly maxMs: number }[];
}

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function medianOf(results: RunResult[]): Median | undefined {
  if (results.length === 0) return undefined;
  const f = (k: keyof RunResult): number => median(results.map((r) => r[k] as number));
  const nodes = results[0]?.eventLoop?.length ?? 0;
  const eventLoop = Array.from({ length: nodes }, (_, i) => ({
    p99Ms: median(results.map((r) => r.eventLoop?.[i]?.p99Ms ?? Number.NaN)),
    maxMs: median(results.map((r) => r.eventLoop?.[i]?.maxMs ?? Number.NaN)),
  }));
  return {
    opsPerSec: f('opsPerSec'),
    p50Ms: f('p50Ms'),
    p99Ms: f('p99Ms'),
    p999Ms: f('p999Ms'),
    maxMs: f('maxMs'),
    serverCpuUsPerOp: f('serverCpuUsPerOp'),
    clientCpuUsPerOp: f('clientCpuUsPerOp'),
    errors: results.reduce((s, r) => s + r.errors, 0),
    runs: results.length,
    ...(nodes === 0 ? {} : { eventLoop }),
  };
}

/** Medians per (workload, value size, client mode), in the order the points were measured. */
export function summarize(points: readonly Point[]): Summary[] {
  const keys: string[] = [];
  for (const p of points) {
    const k = `${p.workload}|${p.valueBytes}|${p.client}`;
    if (!keys.includes(k)) keys.push(k);
  }
  return keys.map((k) => {
    const [workload, v, client] = k.split('|') as [string, string, ClientMode];
    const valueBytes = Number(v);
    const by: Record<string, Median> = {};
    for (const name of new Set(points.map((p) => p.system))) {
      const m = medianOf(
        points
          .filter(
            (p) =>
              p.system === name &&
              p.workload === workload &&
              p.valueBytes === valueBytes &&
              p.client === client,
          )
          .map((p) => p.result),
      );
      if (m !== undefined) by[name] = m;
    }
    return { workload, valueBytes, client, runs: Math.max(0, ...Object.values(by).map((m) => m.runs)), by };
  });
}

const n0 = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? '–' : Math.round(x).toLocaleString('en-US');
const n1 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(1));
const lat = (m: Median | undefined): string =>
  m === undefined ? '–' : `${n1(m.p50Ms)} / ${n1(m.p99Ms)} / ${n1(m.p999Ms)}`;
const size = (b: number): string => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);

export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '–';
  return `${(a / b).toFixed(2)}×`;
}

/** The table comparing system `a` with system `b` (ratios are a/b). */
export function markdownTable(rows: readonly Summary[], a: string, b: string): string {
  const head = `| workload | value | client | ${a} ops/s | ${b} ops/s | ratio | ${a} p50 / p99 / p999 ms | ${b} p50 / p99 / p999 ms | p99 ratio | server CPU µs/op ${a} / ${b} | client CPU µs/op ${a} / ${b} | errors | runs |`;
  const sep = '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const lines = rows.map((s) => {
    const r = s.by[a];
    const e = s.by[b];
    return `| ${s.workload} | ${size(s.valueBytes)} | ${s.client} | ${n0(r?.opsPerSec)} | ${n0(e?.opsPerSec)} | ${ratio(r?.opsPerSec, e?.opsPerSec)} | ${lat(r)} | ${lat(e)} | ${ratio(r?.p99Ms, e?.p99Ms)} | ${n0(r?.serverCpuUsPerOp)} / ${n0(e?.serverCpuUsPerOp)} | ${n0(r?.clientCpuUsPerOp)} / ${n0(e?.clientCpuUsPerOp)} | ${(r?.errors ?? 0) + (e?.errors ?? 0)} | ${s.runs} |`;
  });
  return [head, sep, ...lines].join('\n');
}

/**
 * Throughput of `a` over `b` rep by rep, for one workload, value size and client mode: the two
 * systems' runs of a rep follow each other (their order alternates), so a ratio within a rep shares
 * the machine's state of the moment, which single medians of a noisy machine do not.
 */
export interface PairedRatios {
  readonly workload: string;
  readonly valueBytes: number;
  readonly client: ClientMode;
  /** a/b of each rep both ran, in rep order. */
  readonly ratios: readonly number[];
  readonly median: number;
  /**
   * The distribution-free 95 % confidence interval of the median ratio (order statistics of the
   * binomial sign test); undefined below 6 reps, where none exists.
   */
  readonly ci95: readonly [number, number] | undefined;
}

export function pairedRatios(points: readonly Point[], a: string, b: string): PairedRatios[] {
  const out: PairedRatios[] = [];
  for (const s of summarize(points)) {
    const of = (system: string): Map<number, number> =>
      new Map(
        points
          .filter(
            (p) =>
              p.system === system &&
              p.workload === s.workload &&
              p.valueBytes === s.valueBytes &&
              p.client === s.client,
          )
          .map((p) => [p.rep, p.result.opsPerSec]),
      );
    const pa = of(a);
    const pb = of(b);
    const ratios = [...pa.keys()]
      .sort((x, y) => x - y)
      .filter((rep) => pb.has(rep) && (pb.get(rep) ?? 0) > 0)
      .map((rep) => (pa.get(rep) as number) / (pb.get(rep) as number));
    if (ratios.length === 0) continue;
    const { workload, valueBytes, client } = s;
    out.push({ workload, valueBytes, client, ratios, median: median(ratios), ci95: medianCi95(ratios) });
  }
  return out;
}

/**
 * [x(k), x(n+1-k)] of the sorted values, k the largest rank with P(Binomial(n, 1/2) < k) <= 2.5 %:
 * it holds the true median with at least 95 % probability, whatever the distribution.
 */
export function medianCi95(xs: readonly number[]): [number, number] | undefined {
  const s = [...xs].sort((x, y) => x - y);
  const n = s.length;
  let k = 0;
  let below = 0; // P(Binomial(n, 1/2) < k + 1), built term by term
  let term = 0.5 ** n; // C(n, k) / 2^n
  for (let i = 0; i < n; i++) {
    below += term;
    if (below > 0.025) break;
    k = i + 1;
    term = (term * (n - i)) / (i + 1);
  }
  if (k === 0) return undefined;
  return [s[k - 1] as number, s[n - k] as number];
}

/** One line per row: the ratios, their median and its 95 % interval. */
export function pairedLines(rows: readonly PairedRatios[], a: string, b: string): string {
  return rows
    .map((r) => {
      const ci =
        r.ci95 === undefined
          ? 'too few reps for a 95 % interval'
          : `95 % CI ${r.ci95.map((x) => x.toFixed(2)).join('–')}`;
      return `${r.workload} ${size(r.valueBytes)} ${r.client}: ${a} / ${b} per rep ${r.ratios.map((x) => x.toFixed(2)).join(' ')}; median ${r.median.toFixed(2)}, ${ci}`;
    })
    .join('\n');
}

/** The table of one system alone (`--endpoints`, `ringkv bench`). */
export function singleTable(rows: readonly Summary[], a: string): string {
  const head = `| workload | value | client | ${a} ops/s | p50 / p99 / p999 ms | server CPU µs/op | client CPU µs/op | errors | runs |`;
  const sep = '|---|---|---|---:|---:|---:|---:|---:|---:|';
  const lines = rows.map((s) => {
    const r = s.by[a];
    return `| ${s.workload} | ${size(s.valueBytes)} | ${s.client} | ${n0(r?.opsPerSec)} | ${lat(r)} | ${n0(r?.serverCpuUsPerOp)} | ${n0(r?.clientCpuUsPerOp)} | ${r?.errors ?? 0} | ${s.runs} |`;
  });
  return [head, sep, ...lines].join('\n');
}

const mb = (bytes: readonly number[]): string => bytes.map((b) => n0(b / 2 ** 20)).join(' / ') || '–';

/**
 * The large-data table (`--keys`): one row per workload, client mode and system, with the latency's
 * max, the event-loop delay of probed nodes, and each cluster's memory, disk and preload time.
 * Ratios are to `reference` (etcd) at the same workload and client mode.
 */
export function largeDataTable(
  rows: readonly Summary[],
  systems: readonly string[],
  footprints: readonly Footprint[],
  reference: string | undefined,
): string {
  const head =
    '| workload | value | keys | client | system | ops/s | ratio | p50 / p99 / p999 / max ms | event-loop delay p99 / max ms, per node | RSS max MB, per node | disk MB, per node | preload s | restart s | errors | runs |';
  const sep = '|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const lines: string[] = [];
  for (const s of rows) {
    for (const name of systems) {
      const m = s.by[name];
      if (m === undefined) continue;
      const f = footprints.find((x) => x.system === name && x.valueBytes === s.valueBytes);
      const ref = reference === undefined || reference === name ? undefined : s.by[reference];
      const latency = `${n1(m.p50Ms)} / ${n1(m.p99Ms)} / ${n1(m.p999Ms)} / ${n1(m.maxMs)}`;
      const eld = m.eventLoop?.map((e) => `${n1(e.p99Ms)} / ${n1(e.maxMs)}`).join(', ') ?? 'not probed';
      lines.push(
        `| ${s.workload} | ${size(s.valueBytes)} | ${n0(f?.keys)} | ${s.client} | ${name} | ${n0(m.opsPerSec)} | ${ref === undefined ? '–' : ratio(m.opsPerSec, ref.opsPerSec)} | ${latency} | ${eld} | ${f === undefined ? '–' : mb(f.rssMaxBytes)} | ${f === undefined ? '–' : mb(f.diskBytes)} | ${n1(f?.preloadS)}${f !== undefined && f.preloadRetried > 0 ? ` (${f.preloadRetried} retried)` : ''} | ${n1(f?.restartS)} | ${m.errors} | ${m.runs} |`,
      );
    }
  }
  return [head, sep, ...lines].join('\n');
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Two bar charts, one above the other: throughput and p99 latency per workload, both systems. */
export function svgChart(rows: readonly Summary[], systems: readonly string[], title: string): string {
  const barW = 14;
  const groupW = systems.length * barW + 14;
  const left = 70;
  const plotH = 200;
  const width = left + rows.length * groupW + 170;
  const panels: { label: string; get: (m: Median) => number; top: number }[] = [
    { label: 'throughput (ops/s, higher is better)', get: (m) => m.opsPerSec, top: 40 },
    { label: 'p99 latency (ms, lower is better)', get: (m) => m.p99Ms, top: 40 + plotH + 110 },
  ];
  const palette = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5'];
  const colorOf = (i: number): string => palette[i % palette.length] as string;
  const out: string[] = [];
  const height = 40 + 2 * (plotH + 110);
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
  );
  for (const p of panels) {
    const vals = rows.flatMap((s) => Object.values(s.by).map((m) => p.get(m)));
    const max = Math.max(1, ...vals.filter((v) => Number.isFinite(v)));
    const base = p.top + plotH;
    out.push(`<text x="${left}" y="${p.top - 6}" font-weight="bold">${esc(p.label)}</text>`);
    out.push(`<line x1="${left}" y1="${base}" x2="${width - 120}" y2="${base}" stroke="#333"/>`);
    for (let t = 0; t <= 4; t++) {
      const y = base - (t * plotH) / 4;
      out.push(`<line x1="${left - 4}" y1="${y}" x2="${width - 120}" y2="${y}" stroke="#ddd"/>`);
      out.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end">${esc(n0((t * max) / 4))}</text>`);
    }
    rows.forEach((s, i) => {
      const x0 = left + 6 + i * groupW;
      systems.forEach((sys, j) => {
        const m = s.by[sys];
        if (m === undefined || !Number.isFinite(p.get(m))) return;
        const h = (p.get(m) / max) * plotH;
        out.push(
          `<rect x="${x0 + j * barW}" y="${base - h}" width="${barW - 2}" height="${h}" fill="${colorOf(j)}"/>`,
        );
      });
      const lx = x0 + barW;
      out.push(
        `<text transform="translate(${lx},${base + 8}) rotate(60)" font-size="10">${esc(`${s.workload} ${size(s.valueBytes)} ${s.client}`)}</text>`,
      );
    });
    systems.forEach((sys, j) => {
      const y = p.top + 10 + j * 16;
      out.push(`<rect x="${width - 110}" y="${y - 9}" width="10" height="10" fill="${colorOf(j)}"/>`);
      out.push(`<text x="${width - 95}" y="${y}">${esc(sys)}</text>`);
    });
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
