// `npm run bench`: ringkv and etcd side by side on this machine, in the same run.
// Starts a 3-node ringkv cluster per leader placement (pack: every shard leader on one node, as
// etcd has one leader; spread: the default, leaders evenly over the nodes) and a 3-member etcd
// cluster on loopback (fsync on), drives them all
// with the same load generator over the same minimal gRPC client, alternating the systems so that
// drift on a shared machine hits both alike, and writes a table (terminal + bench/latest.md),
// a JSON file and an SVG chart (bench/results/<timestamp>.{json,svg}, bench/latest.svg).
// Options: --workloads put-1,put-64,… --duration-s 5 --warmup-s 1 --reps 3 --values 256,4096
//          --placements pack,spread --skip-etcd, --endpoints host:port,… (measure an already running ringkv cluster only),
//          --cpu-prof DIR (start the ringkv nodes with --cpu-prof, profiles written at the end).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type Cluster,
  ensureEtcd,
  isPlacement,
  killAllStarted,
  PLACEMENTS,
  type Placement,
  startEtcd,
  startRingkv,
} from './clusters.ts';
import { benchValue, parseWorkload, prefill, runLoad, WORKLOADS } from './load.ts';
import { markdownTable, type Point, singleTable, summarize, svgChart } from './report.ts';
import { EtcdTarget, RingkvTarget, type Target } from './targets.ts';

interface ProgressBar {
  start(total: number, value: number, payload?: Record<string, string>): void;
  update(value: number, payload?: Record<string, string>): void;
  stop(): void;
}
const require = createRequire(import.meta.url);
const cliProgress = require('cli-progress') as {
  SingleBar: new (opts: Record<string, unknown>, preset: unknown) => ProgressBar;
  Presets: { shades_classic: unknown };
};

const BENCH_DIR = import.meta.dirname;

function options() {
  const { values } = parseArgs({
    options: {
      workloads: { type: 'string', default: WORKLOADS.join(',') },
      'duration-s': { type: 'string', default: '5' },
      'warmup-s': { type: 'string', default: '1' },
      reps: { type: 'string', default: '3' },
      values: { type: 'string', default: '256,4096' },
      placements: { type: 'string', default: PLACEMENTS.join(',') },
      endpoints: { type: 'string' },
      'skip-etcd': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      baseline: { type: 'string' },
      'node-args': { type: 'string' },
      'serve-args': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      'usage: node bench/compare.ts [--workloads put-1,put-16,put-64,put-256,get-lin-64,get-ser-64,mix-64]\n' +
        '  [--duration-s 5] [--warmup-s 1] [--reps 3] [--values 256,4096] [--skip-etcd]\n' +
        '  [--placements pack,spread (one ringkv cluster per leader placement: pack = every shard leader on\n' +
        '   one node, as etcd has one leader; spread = the default, leaders evenly over the nodes)]\n' +
        '  [--endpoints host:port,... (an already running ringkv cluster; implies --skip-etcd)] [--cpu-prof DIR]\n' +
        '  [--baseline GIT-REV (also run ringkv as of that commit, from a temporary git worktree: before/after)]\n' +
        '  [--node-args="--flag …" (extra Node flags for the ringkv nodes under test, not the baseline; note the =)]\n' +
        '  [--serve-args="--flag …" (extra `ringkv serve` flags for the nodes under test, not the baseline;\n' +
        '   e.g. --serve-args=--client_api_thread=worker)]',
    );
    process.exit(0);
  }
  const num = (s: string, name: string, min: number, max: number): number => {
    const n = Number(s);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new Error(`--${name} must be a number in [${min}, ${max}], got "${s}"`);
    return n;
  };
  const workloads = values.workloads.split(',').filter((w) => w !== '');
  for (const w of workloads) parseWorkload(w);
  const endpoints = values.endpoints?.split(',').filter((e) => e !== '');
  const placements = values.placements.split(',').filter((p) => p !== '');
  if (placements.length === 0 || new Set(placements).size !== placements.length)
    throw new Error(
      `--placements must list some of ${PLACEMENTS.join(', ')} once each, got "${values.placements}"`,
    );
  for (const p of placements) {
    if (!isPlacement(p)) throw new Error(`--placements: "${p}" is not one of ${PLACEMENTS.join(', ')}`);
  }
  return {
    workloads,
    durationMs: num(values['duration-s'], 'duration-s', 0.5, 600) * 1000,
    warmupMs: num(values['warmup-s'], 'warmup-s', 0, 60) * 1000,
    reps: num(values.reps, 'reps', 1, 20),
    valueSizes: values.values.split(',').map((v) => num(v, 'values', 1, 1024 * 1024)),
    placements: placements as Placement[],
    endpoints,
    skipEtcd: values['skip-etcd'] || endpoints !== undefined,
    cpuProfDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
    baseline: values.baseline,
    nodeArgs: values['node-args']?.split(' ').filter((a) => a !== '') ?? [],
    serveArgs: values['serve-args']?.split(' ').filter((a) => a !== '') ?? [],
  };
}
type Options = ReturnType<typeof options>;

/**
 * Only a full ringkv-vs-etcd run (every workload, both value sizes, at least 3 reps of at least
 * 5 s, the nodes' default flags) replaces the published bench/latest.{md,svg}; a quick or partial run never does.
 */
function isFullComparison(o: Options): boolean {
  return (
    o.endpoints === undefined &&
    !o.skipEtcd &&
    o.baseline === undefined &&
    o.nodeArgs.length === 0 &&
    o.serveArgs.length === 0 &&
    WORKLOADS.every((w) => o.workloads.includes(w)) &&
    PLACEMENTS.every((p) => o.placements.includes(p)) &&
    [256, 4096].every((v) => o.valueSizes.includes(v)) &&
    o.reps >= 3 &&
    o.durationMs >= 5000
  );
}

interface System {
  readonly target: Target;
  readonly pids: number[];
}

async function main(): Promise<void> {
  const o = options();
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const clusters: Cluster[] = [];
  const systems: System[] = [];
  const cleanups: (() => void)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const s of systems) s.target.close();
    for (const c of clusters.splice(0)) await c.stop();
    for (const f of cleanups.splice(0)) f();
  };
  const onSignal = (): void => {
    log('\ninterrupted: stopping the clusters');
    killAllStarted();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (o.endpoints !== undefined) {
      systems.push({ target: new RingkvTarget(o.endpoints), pids: [] });
    } else {
      for (const placement of o.placements) {
        log(`starting a 3-node ringkv cluster, leaders ${placement} …`);
        const rk = await startRingkv({
          nodeArgs: o.nodeArgs,
          serveArgs: o.serveArgs,
          leaderPlacement: placement,
          ...(o.cpuProfDir === undefined ? {} : { cpuProfDir: join(o.cpuProfDir, placement) }),
        });
        clusters.push(rk);
        systems.push({ target: new RingkvTarget(rk.endpoints, `ringkv (${placement})`), pids: rk.pids });
      }
    }
    if (o.baseline !== undefined) {
      const wt = addWorktree(o.baseline);
      cleanups.push(wt.remove);
      // The first placement, named only when it is not the default (older revisions lack the flag).
      const placement = o.endpoints === undefined ? o.placements[0] : undefined;
      log(
        `starting a 3-node ringkv cluster at ${o.baseline} (${wt.dir}), leaders ${placement ?? 'spread'} …`,
      );
      const base = await startRingkv({
        repoDir: wt.dir,
        ...(placement === 'pack' ? { leaderPlacement: placement } : {}),
      });
      clusters.push(base);
      systems.push({ target: new RingkvTarget(base.endpoints, `ringkv@${o.baseline}`), pids: base.pids });
    }
    if (!o.skipEtcd) {
      ensureEtcd(log);
      log('starting a 3-member etcd cluster …');
      const ec = await startEtcd();
      clusters.push(ec);
      systems.push({ target: new EtcdTarget(ec.endpoints), pids: ec.pids });
    }
    const points = await measure(o, systems, log);
    await cleanup();
    writeOutputs(
      o,
      points,
      systems.map((s) => s.target.name),
      log,
    );
  } catch (e) {
    await cleanup().catch(() => killAllStarted());
    throw e;
  }
}

async function measure(o: Options, systems: System[], log: (s: string) => void): Promise<Point[]> {
  const points: Point[] = [];
  const perPointMs = o.warmupMs + o.durationMs;
  const totalS = Math.ceil(
    (o.reps * o.valueSizes.length * o.workloads.length * systems.length * perPointMs) / 1000,
  );
  const bar = new cliProgress.SingleBar(
    { format: '{bar} {percentage}% | {value}/{total} s | {what}', stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(totalS, 0, { what: 'prefill' });
  let doneMs = 0;
  for (let rep = 0; rep < o.reps; rep++) {
    for (const size of o.valueSizes) {
      const value = benchValue(size);
      for (const s of systems) {
        await s.target.refresh();
        await prefill(s.target, value);
      }
      for (const w of o.workloads) {
        // Alternate which system goes first, so drift does not always favour the same one.
        const order = rep % 2 === 0 ? systems : [...systems].reverse();
        for (const s of order) {
          const what = `rep ${rep + 1}/${o.reps} ${w} ${size} B ${s.target.name}`;
          await s.target.refresh();
          const result = await runLoad(s.target, {
            spec: parseWorkload(w),
            value,
            warmupMs: o.warmupMs,
            durationMs: o.durationMs,
            serverPids: s.pids,
            onTick: (ms) => bar.update(Math.floor((doneMs + ms) / 1000), { what }),
          });
          doneMs += perPointMs;
          bar.update(Math.floor(doneMs / 1000), { what });
          points.push({ system: s.target.name, workload: w, valueBytes: size, rep, result });
          if (result.errors > 0) log(`\n${what}: ${result.errors} errors, first: ${result.firstError}`);
          // Without a terminal the bar does not draw: one line per point instead.
          if (!process.stderr.isTTY) {
            log(
              `${what}: ${Math.round(result.opsPerSec)} ops/s, p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms`,
            );
          }
        }
      }
    }
  }
  bar.stop();
  return points;
}

function writeOutputs(o: Options, points: Point[], names: string[], log: (s: string) => void): void {
  const rows = summarize(points);
  const tables = comparisons(names).map(([a, b]) => markdownTable(rows, a, b));
  const table = tables.length === 0 ? singleTable(rows, names[0] as string) : tables.join('\n\n');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = join(BENCH_DIR, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const cmd = `node bench/compare.ts ${process.argv.slice(2).join(' ')}`.trim();
  const json = { date: new Date().toISOString(), machine, command: cmd, options: o, summary: rows, points };
  const jsonPath = join(resultsDir, `${stamp}.json`);
  writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`);
  const svg = svgChart(
    rows,
    names,
    `${names.join(' vs ')} — medians of ${o.reps} run(s), ${o.durationMs / 1000} s each`,
  );
  writeFileSync(join(resultsDir, `${stamp}.svg`), svg);
  const publish = isFullComparison(o);
  if (publish) {
    writeFileSync(join(BENCH_DIR, 'latest.svg'), svg);
    const md = `<!-- generated by \`${cmd}\` on ${json.date} -->\nMachine: ${machine}. Medians of ${o.reps} run(s) of ${o.durationMs / 1000} s per point (after ${o.warmupMs / 1000} s of warm-up).\n\n${table}\n`;
    writeFileSync(join(BENCH_DIR, 'latest.md'), md);
  }
  console.log(`\n${table}\n`);
  log(`results: ${jsonPath} (+ .svg)${publish ? '; bench/latest.md, bench/latest.svg' : ''}`);
  const errors = points.reduce((s, p) => s + p.result.errors, 0);
  if (errors > 0) {
    log(`ERROR: ${errors} failed requests in total (must be 0)`);
    process.exitCode = 1;
  }
}

/**
 * Which systems each table compares: the first against a baseline (before/after), and every ringkv
 * cluster against etcd.
 */
function comparisons(names: readonly string[]): [string, string][] {
  const first = names[0] as string;
  const pairs: [string, string][] = [];
  const baseline = names.find((n) => n.startsWith('ringkv@'));
  if (baseline !== undefined) pairs.push([first, baseline]);
  if (names.includes('etcd')) {
    for (const n of names) if (n !== 'etcd' && n !== baseline) pairs.push([n, 'etcd']);
  }
  if (pairs.length === 0) for (const n of names.slice(1)) pairs.push([first, n]);
  return pairs;
}

/** A detached git worktree of `rev` with this checkout's node_modules, removed at the end. */
function addWorktree(rev: string): { dir: string; remove: () => void } {
  const repo = resolve(BENCH_DIR, '..');
  const dir = mkdtempSync(join(os.tmpdir(), 'ringkv-baseline-'));
  execFileSync('git', ['-C', repo, 'worktree', 'add', '--detach', dir, rev], { stdio: 'ignore' });
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  return {
    dir,
    remove: () =>
      execFileSync('git', ['-C', repo, 'worktree', 'remove', '--force', dir], { stdio: 'ignore' }),
  };
}

await main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  killAllStarted();
  process.exit(1);
});
