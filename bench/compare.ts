// `npm run bench`: ringkv and etcd side by side on this machine, in the same run.
// Starts a 3-node ringkv cluster per leader placement (pack: every shard leader on one node, as
// etcd has one leader; spread: the default, leaders evenly over the nodes) and a 3-member etcd
// cluster on loopback (fsync on), drives them all
// with the same load generator over the same minimal gRPC client, alternating the systems so that
// drift on a shared machine hits both alike, and writes a table (terminal + bench/latest.md),
// a JSON file and an SVG chart (bench/results/<timestamp>.{json,svg}, bench/latest.svg).
// Each workload runs with each client mode (--clients): requests straight to the leader, and
// round-robin over the members as etcd's client and most gRPC users send them.
// With --keys N (the large-data workload) it first preloads N keys, then runs put-64 over them,
// and reports the memory (RSS) and disk of every node, the preload time, the event-loop delay
// of the ringkv nodes (bench/event-loop-probe.ts, loaded with --import: src/ is not touched), and
// how long each system's third process takes to be ready again after a kill -9 and a restart.
// Options: see --help.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type Cluster,
  devCerts,
  ensureEtcd,
  isPlacement,
  killAllStarted,
  PLACEMENTS,
  type Placement,
  startEtcd,
  startRingkv,
} from './clusters.ts';
import { EventLoopProbe, PROBE_DIR_ENV, probeNodeArg } from './event-loop.ts';
import { diskBytes, RssSampler } from './footprint.ts';
import {
  benchValue,
  KEY_COUNT_DEFAULT,
  KEY_COUNT_MAX,
  makeKeys,
  parseWorkload,
  prefill,
  runLoad,
  WORKLOADS,
} from './load.ts';
import {
  type Footprint,
  largeDataTable,
  markdownTable,
  type Point,
  pairedLines,
  pairedRatios,
  singleTable,
  summarize,
  svgChart,
} from './report.ts';
import {
  CLIENT_MODES,
  type ClientMode,
  EtcdTarget,
  isClientMode,
  RingkvTarget,
  type Target,
} from './targets.ts';

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

/** Defaults of a large-data run (`--keys`) where they differ from the others'. */
const LARGE_DATA_DEFAULTS = { workloads: 'put-64', values: '1024', durationS: '30' } as const;
/** In-flight puts of the preload of a large-data run. */
const PRELOAD_CONCURRENCY = 64;

const USAGE = `usage: node bench/compare.ts [options]
  --workloads LIST   default ${WORKLOADS.join(',')}
                     (put-N, get-lin-N, get-ser-N, mix-N: N requests in flight)
  --clients LIST     how the load generator picks the member for each request, for both systems;
                     every workload runs once per mode (default leader,round-robin; leader with --endpoints):
                       leader       ringkv: the leader of the key's shard; etcd: its leader (one hop)
                       round-robin  the members in turn, whatever they lead (as etcd's client does)
  --duration-s 5 --warmup-s 1 --reps 3 --values 256,4096 (value sizes in bytes)
  --settle-s 30      before the first repetition, each system runs the workloads (every client mode)
                     for this long in all, unrecorded, so that what is measured is a warm server: a
                     fresh Node process (ringkv's nodes, and the load generator itself) spends its
                     first tens of seconds under load compiling. Default 30; 0 with --keys (the
                     preload is the warm-up there) and with --endpoints (a running cluster)
  --placements pack,spread  one ringkv cluster per leader placement: pack = every shard leader on one
                     node, as etcd has one leader; spread = the default, leaders evenly over the nodes
  --keys N           the large-data workload: preload N keys of the value size (64 in flight, leader
                     routing, progress bar), then run the workloads over those N keys (default
                     --workloads ${LARGE_DATA_DEFAULTS.workloads} --values ${LARGE_DATA_DEFAULTS.values} --duration-s ${LARGE_DATA_DEFAULTS.durationS}; one value size). Reports per system:
                     ops/s, p50/p99/p999/max latency, RSS max per node (VmRSS sampled every 0.5 s
                     from the preload on), disk per node (du of each data dir at the end), preload
                     time, the event-loop delay p99/max of each ringkv node over each window
                     (bench/event-loop-probe.ts, loaded into the nodes with --import), and at the
                     end the restart time: the third process of each system killed (SIGKILL) and
                     started again, until ready (ringkv /readyz, etcd /health).
                     Without --keys: ${KEY_COUNT_DEFAULT} keys, written before each repetition.
  --skip-etcd        ringkv only
  --endpoints host:port,...  an already running ringkv cluster (implies --skip-etcd)
  --cpu-prof DIR     start the ringkv nodes with --cpu-prof (the baseline's too, in DIR/baseline);
                     profiles written at the end
  --baseline GIT-REV also run ringkv as of that commit, from a temporary git worktree (before/after)
  --rev GIT-REV      run the ringkv under test as of that commit too (default: this checkout), so that
                     two commits can be compared, e.g. a change's first parent and its last commit
  --node-args="--flag …"   extra Node flags for the ringkv nodes under test, not the baseline (note the =)
  --serve-args="--flag …"  extra \`ringkv serve\` flags for the nodes under test, not the baseline,
                     e.g. --serve-args=--client_api_thread=worker
  --node-env="NAME=value …"  environment variables for the nodes under test, not the baseline
                     (restarts included), e.g. --node-env=GLIBC_TUNABLES=glibc.malloc.hugetlb=1
  --tls              also run each placement's cluster with TLS (the client port, mutual TLS on the
                     raft port; certificates from \`ringkv certs create\`), the load generator over
                     TLS too, and compare it with the plaintext one (same run)
Every process it starts it stops, also on Ctrl+C (SIGINT) and SIGTERM.`;

function options() {
  const { values } = parseArgs({
    options: {
      workloads: { type: 'string' },
      clients: { type: 'string' },
      'duration-s': { type: 'string' },
      'warmup-s': { type: 'string', default: '1' },
      'settle-s': { type: 'string' },
      reps: { type: 'string', default: '3' },
      values: { type: 'string' },
      keys: { type: 'string' },
      placements: { type: 'string', default: PLACEMENTS.join(',') },
      endpoints: { type: 'string' },
      'skip-etcd': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      baseline: { type: 'string' },
      rev: { type: 'string' },
      tls: { type: 'boolean', default: false },
      'node-args': { type: 'string' },
      'serve-args': { type: 'string' },
      'node-env': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (s: string, name: string, min: number, max: number): number => {
    const n = Number(s);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new Error(`--${name} must be a number in [${min}, ${max}], got "${s}"`);
    return n;
  };
  const list = (s: string): string[] => s.split(',').filter((x) => x !== '');
  const large = values.keys !== undefined;
  const keys = large ? num(values.keys as string, 'keys', 1, KEY_COUNT_MAX) : KEY_COUNT_DEFAULT;
  if (!Number.isInteger(keys)) throw new Error(`--keys must be an integer, got "${values.keys}"`);
  const workloads = list(values.workloads ?? (large ? LARGE_DATA_DEFAULTS.workloads : WORKLOADS.join(',')));
  for (const w of workloads) parseWorkload(w);
  const endpoints = values.endpoints === undefined ? undefined : list(values.endpoints);
  if (endpoints !== undefined && values.rev !== undefined)
    throw new Error('--rev starts the clusters under test; --endpoints uses a running one: give one of them');
  const placements = list(values.placements);
  if (placements.length === 0 || new Set(placements).size !== placements.length)
    throw new Error(
      `--placements must list some of ${PLACEMENTS.join(', ')} once each, got "${values.placements}"`,
    );
  for (const p of placements) {
    if (!isPlacement(p)) throw new Error(`--placements: "${p}" is not one of ${PLACEMENTS.join(', ')}`);
  }
  // `ringkv bench` (src/cli) runs this with --endpoints and no --clients: it keeps its one-mode table.
  const clients = list(values.clients ?? (endpoints === undefined ? CLIENT_MODES.join(',') : 'leader'));
  if (clients.length === 0 || new Set(clients).size !== clients.length)
    throw new Error(
      `--clients must list some of ${CLIENT_MODES.join(', ')} once each, got "${values.clients}"`,
    );
  for (const c of clients) {
    if (!isClientMode(c)) throw new Error(`--clients: "${c}" is not one of ${CLIENT_MODES.join(', ')}`);
  }
  const valueSizes = list(values.values ?? (large ? LARGE_DATA_DEFAULTS.values : '256,4096')).map((v) =>
    num(v, 'values', 1, 1024 * 1024),
  );
  if (large && valueSizes.length !== 1)
    throw new Error(`--keys preloads one value size: give one --values, got "${values.values}"`);
  const durationS = values['duration-s'] ?? (large ? LARGE_DATA_DEFAULTS.durationS : '5');
  return {
    workloads,
    clients: clients as ClientMode[],
    durationMs: num(durationS, 'duration-s', 0.5, 600) * 1000,
    warmupMs: num(values['warmup-s'], 'warmup-s', 0, 60) * 1000,
    settleMs:
      num(values['settle-s'] ?? (large || endpoints !== undefined ? '0' : '30'), 'settle-s', 0, 600) * 1000,
    reps: num(values.reps, 'reps', 1, 20),
    valueSizes,
    /** The key space; above KEY_COUNT_DEFAULT (given --keys) it is preloaded once and measured. */
    keys,
    large,
    placements: placements as Placement[],
    endpoints,
    skipEtcd: values['skip-etcd'] || endpoints !== undefined,
    cpuProfDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
    baseline: values.baseline,
    rev: values.rev,
    nodeArgs: words(values['node-args']),
    serveArgs: words(values['serve-args']),
    nodeEnv: nodeEnv(values['node-env']),
    tls: values.tls === true,
  };
}
type Options = ReturnType<typeof options>;

/** A space-separated option's words (none when absent). */
function words(text: string | undefined): string[] {
  return text?.split(' ').filter((w) => w !== '') ?? [];
}

/** `--node-env`'s "NAME=value …" (space-separated) as variables; a word without a name is an error. */
function nodeEnv(text: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const word of words(text)) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw new Error(`--node-env: "${word}" is not NAME=value`);
    env[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return env;
}

/**
 * Only a full ringkv-vs-etcd run (every workload, both value sizes, both client modes, at least 3
 * reps of at least 5 s, the nodes' default flags, not a large-data run) replaces the published bench/latest.{md,svg}; a quick or partial run never does.
 */
function isFullComparison(o: Options): boolean {
  return (
    o.endpoints === undefined &&
    !o.skipEtcd &&
    o.baseline === undefined &&
    o.rev === undefined &&
    !o.large &&
    CLIENT_MODES.every((c) => o.clients.includes(c)) &&
    o.nodeArgs.length === 0 &&
    o.serveArgs.length === 0 &&
    Object.keys(o.nodeEnv).length === 0 &&
    !o.tls &&
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
  /** Absent for a cluster started elsewhere (--endpoints). */
  readonly cluster?: Cluster;
  /** The ringkv nodes' event-loop probe (large-data runs). */
  readonly probe?: EventLoopProbe;
  /** Memory of the server processes (large-data runs). */
  readonly rss?: RssSampler;
}

/** The bar on stderr, stopped on Ctrl+C so the terminal gets its cursor back. */
let activeBar: ProgressBar | undefined;
function newBar(format: string): ProgressBar {
  activeBar = new cliProgress.SingleBar(
    { format, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  return activeBar;
}

async function main(): Promise<void> {
  const o = options();
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const clusters: Cluster[] = [];
  const systems: System[] = [];
  const cleanups: (() => void)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const s of systems) s.target.close();
    for (const s of systems) s.rss?.stop();
    for (const c of clusters.splice(0)) await c.stop();
    for (const f of cleanups.splice(0)) f();
  };
  const onSignal = (): void => {
    activeBar?.stop();
    log('\ninterrupted: stopping the clusters');
    killAllStarted();
    for (const f of cleanups.splice(0)) {
      try {
        f();
      } catch (e) {
        log(`cleanup: ${String(e)}`);
      }
    }
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // The event-loop probe: on in the ringkv nodes of a large-data run (their own, never --endpoints).
    let probeArgs: string[] = [];
    let probeDir: string | undefined;
    if (o.large && o.endpoints === undefined) {
      const dir = mkdtempSync(join(os.tmpdir(), 'ringkv-bench-eld-'));
      probeDir = dir;
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      process.env[PROBE_DIR_ENV] = dir;
      probeArgs = [probeNodeArg()];
    }
    const ringkvSystem = (target: Target, c: Cluster): System => ({
      target,
      pids: c.pids,
      cluster: c,
      ...(probeDir === undefined ? {} : { probe: new EventLoopProbe(probeDir, c.pids) }),
      ...(o.large ? { rss: new RssSampler(c.pids) } : {}),
    });
    if (o.endpoints !== undefined) {
      systems.push({ target: new RingkvTarget(o.endpoints), pids: [] });
    } else {
      const tested = o.rev === undefined ? undefined : addWorktree(o.rev);
      if (tested !== undefined) cleanups.push(tested.remove);
      const at = o.rev === undefined ? '' : ` at ${o.rev} (${tested?.dir})`;
      for (const placement of o.placements) {
        log(`starting a 3-node ringkv cluster${at}, leaders ${placement} …`);
        const rk = await startRingkv({
          ...(tested === undefined ? {} : { repoDir: tested.dir }),
          nodeArgs: [...probeArgs, ...o.nodeArgs],
          serveArgs: o.serveArgs,
          env: o.nodeEnv,
          leaderPlacement: placement,
          ...(o.cpuProfDir === undefined ? {} : { cpuProfDir: join(o.cpuProfDir, placement) }),
        });
        clusters.push(rk);
        const name = o.rev === undefined ? `ringkv (${placement})` : `ringkv@${o.rev} (${placement})`;
        systems.push(ringkvSystem(new RingkvTarget(rk.endpoints, name), rk));
        if (o.tls) {
          const certs = devCerts();
          cleanups.push(certs.remove);
          log(`starting a 3-node ringkv cluster with TLS, leaders ${placement} …`);
          const tls = await startRingkv({
            ...(tested === undefined ? {} : { repoDir: tested.dir }),
            nodeArgs: [...probeArgs, ...o.nodeArgs],
            serveArgs: o.serveArgs,
            env: o.nodeEnv,
            leaderPlacement: placement,
            tlsDir: certs.dir,
          });
          clusters.push(tls);
          systems.push(
            ringkvSystem(new RingkvTarget(tls.endpoints, `ringkv (${placement}, tls)`, certs.client), tls),
          );
        }
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
        nodeArgs: probeArgs,
        ...(placement === 'pack' ? { leaderPlacement: placement } : {}),
        ...(o.cpuProfDir === undefined ? {} : { cpuProfDir: join(o.cpuProfDir, 'baseline') }),
      });
      clusters.push(base);
      systems.push(ringkvSystem(new RingkvTarget(base.endpoints, baselineName(o.baseline)), base));
    }
    if (!o.skipEtcd) {
      ensureEtcd(log);
      log('starting a 3-member etcd cluster …');
      const ec = await startEtcd();
      clusters.push(ec);
      systems.push({
        target: new EtcdTarget(ec.endpoints),
        pids: ec.pids,
        cluster: ec,
        ...(o.large ? { rss: new RssSampler(ec.pids) } : {}),
      });
    }
    const { points, preloads } = await measure(o, systems, log);
    const footprints = o.large ? await withRestarts(footprintsOf(o, systems, preloads), systems, log) : [];
    await cleanup();
    writeOutputs(
      o,
      points,
      footprints,
      systems.map((s) => s.target.name),
      log,
    );
  } catch (e) {
    await cleanup().catch(() => killAllStarted());
    throw e;
  }
}

interface Preload {
  readonly seconds: number;
  readonly retried: number;
}

/** Memory, disk and preload time of each system at the end of a large-data run. */
function footprintsOf(o: Options, systems: readonly System[], preloads: ReadonlyMap<string, Preload>) {
  return systems.map(
    (s): Footprint => ({
      system: s.target.name,
      keys: o.keys,
      valueBytes: o.valueSizes[0] as number,
      preloadS: preloads.get(s.target.name)?.seconds ?? Number.NaN,
      preloadRetried: preloads.get(s.target.name)?.retried ?? 0,
      rssMaxBytes: s.rss?.stop() ?? [],
      diskBytes: s.cluster?.dataDirs.map((d) => diskBytes(d)) ?? [],
    }),
  );
}

/** Which server process a large-data run restarts: the third (in a packed ringkv cluster, a follower). */
const RESTARTED = 2;

/**
 * The footprints with each system's restart time: its third process killed (SIGKILL) and started
 * again with its command line, until it says it is ready (ringkv /readyz, etcd /health).
 */
async function withRestarts(
  footprints: Footprint[],
  systems: readonly System[],
  log: (s: string) => void,
): Promise<Footprint[]> {
  const out: Footprint[] = [];
  for (const [i, f] of footprints.entries()) {
    const restart = systems[i]?.cluster?.restart;
    if (restart === undefined) {
      out.push(f);
      continue;
    }
    log(`restarting ${f.system}'s process ${RESTARTED + 1} (SIGKILL, then its command line) …`);
    const restartS = (await restart(RESTARTED)) / 1000;
    log(`${f.system}: process ${RESTARTED + 1} ready ${restartS.toFixed(1)} s after its start`);
    out.push({ ...f, restartS });
  }
  return out;
}

/** Times a failed preload put is sent again before the run gives up (each counted). */
const PRELOAD_RETRIES_MAX = 3;

/** A large-data run's preload: every key once, system after system, timed, with a progress bar. */
async function preload(
  systems: readonly System[],
  keys: readonly Uint8Array[],
  value: Uint8Array,
  log: (s: string) => void,
): Promise<Map<string, Preload>> {
  const done = new Map<string, Preload>();
  for (const s of systems) {
    await s.target.refresh();
    const bar = newBar(`{bar} {percentage}% | {value}/{total} keys | preload ${s.target.name} | {eta}s left`);
    bar.start(keys.length, 0);
    const t0 = performance.now();
    let shown = 0;
    let written = 0;
    const result = await prefill(
      s.target.client('leader'),
      keys,
      value,
      PRELOAD_CONCURRENCY,
      (n) => {
        written = n;
        if (n - shown >= 500 || n === keys.length) {
          shown = n;
          bar.update(n);
        }
      },
      PRELOAD_RETRIES_MAX,
    ).catch((e: unknown) => {
      bar.stop();
      throw new Error(
        `preload of ${s.target.name} failed after ${written} of ${keys.length} keys: ${String(e)}`,
      );
    });
    const elapsedS = (performance.now() - t0) / 1000;
    bar.stop();
    activeBar = undefined;
    done.set(s.target.name, { seconds: elapsedS, retried: result.retried });
    const retried =
      result.retried === 0
        ? ''
        : `; ${result.retried} puts failed and were sent again, first: ${result.firstError}`;
    log(
      `preloaded ${keys.length} keys of ${value.byteLength} B into ${s.target.name} in ${elapsedS.toFixed(1)} s (${Math.round(keys.length / elapsedS)} keys/s)${retried}`,
    );
  }
  return done;
}

async function measure(
  o: Options,
  systems: System[],
  log: (s: string) => void,
): Promise<{ points: Point[]; preloads: Map<string, Preload> }> {
  const points: Point[] = [];
  const keys = makeKeys(o.keys);
  const preloads = o.large
    ? await preload(systems, keys, benchValue(o.valueSizes[0] as number), log)
    : new Map<string, Preload>();
  const perPointMs = o.warmupMs + o.durationMs;
  const totalS = Math.ceil(
    (o.settleMs * systems.length +
      o.reps * o.valueSizes.length * o.workloads.length * o.clients.length * systems.length * perPointMs) /
      1000,
  );
  const bar = newBar('{bar} {percentage}% | {value}/{total} s | {what}');
  bar.start(totalS, 0, { what: 'prefill' });
  let doneMs = 0;
  if (o.settleMs > 0) {
    // Unrecorded: every workload in every client mode, an equal share of settleMs each.
    const combos = o.workloads.flatMap((w) => o.clients.map((mode) => [w, mode] as const));
    const eachMs = o.settleMs / combos.length;
    const value = benchValue(o.valueSizes[0] as number);
    for (const s of systems) {
      await s.target.refresh();
      if (!o.large) await prefill(s.target.client('leader'), keys, value);
      for (const [w, mode] of combos) {
        const what = `settling ${s.target.name}: ${w} ${mode}`;
        const from = doneMs;
        await runLoad(s.target.client(mode), {
          spec: parseWorkload(w),
          keys,
          value,
          warmupMs: eachMs,
          durationMs: 0,
          serverPids: [],
          onTick: (ms) => bar.update(Math.floor((from + ms) / 1000), { what }),
        });
        doneMs += eachMs;
      }
      if (!process.stderr.isTTY) log(`settled ${s.target.name}: ${o.settleMs / 1000} s of load, unrecorded`);
    }
  }
  for (let rep = 0; rep < o.reps; rep++) {
    for (const size of o.valueSizes) {
      const value = benchValue(size);
      // A large-data run wrote its keys once (preload); the small key space is written again.
      if (!o.large) {
        for (const s of systems) {
          await s.target.refresh();
          await prefill(s.target.client('leader'), keys, value);
        }
      }
      for (const w of o.workloads) {
        // Alternate which system (and client mode) goes first, so drift does not always favour the same one.
        const modes = rep % 2 === 0 ? o.clients : [...o.clients].reverse();
        for (const mode of modes) {
          const order = rep % 2 === 0 ? systems : [...systems].reverse();
          for (const s of order) {
            const what = `rep ${rep + 1}/${o.reps} ${w} ${size} B ${mode} ${s.target.name}`;
            await s.target.refresh();
            const result = await runLoad(s.target.client(mode), {
              spec: parseWorkload(w),
              keys,
              value,
              warmupMs: o.warmupMs,
              durationMs: o.durationMs,
              serverPids: s.pids,
              onTick: (ms) => bar.update(Math.floor((doneMs + ms) / 1000), { what }),
              ...(s.probe === undefined ? {} : { probe: s.probe }),
            });
            doneMs += perPointMs;
            bar.update(Math.floor(doneMs / 1000), { what });
            points.push({ system: s.target.name, workload: w, valueBytes: size, client: mode, rep, result });
            if (result.errors > 0) log(`\n${what}: ${result.errors} errors, first: ${result.firstError}`);
            // Without a terminal the bar does not draw: one line per point instead.
            if (!process.stderr.isTTY) {
              const eld =
                result.eventLoop === undefined
                  ? ''
                  : `, event-loop delay max ${result.eventLoop.map((e) => e.maxMs.toFixed(0)).join('/')} ms`;
              log(
                `${what}: ${Math.round(result.opsPerSec)} ops/s, p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, max ${result.maxMs.toFixed(1)} ms${eld}`,
              );
            }
          }
        }
      }
    }
  }
  bar.stop();
  activeBar = undefined;
  return { points, preloads };
}

function writeOutputs(
  o: Options,
  points: Point[],
  footprints: Footprint[],
  names: string[],
  log: (s: string) => void,
): void {
  const rows = summarize(points);
  const baseline = o.baseline === undefined ? undefined : baselineName(o.baseline);
  const tables = comparisons(names, baseline).map(([a, b]) => markdownTable(rows, a, b));
  const paired = baseline === undefined ? [] : pairedRatios(points, names[0] as string, baseline);
  const table = o.large
    ? largeDataTable(rows, names, footprints, names.includes('etcd') ? 'etcd' : undefined)
    : tables.length === 0
      ? singleTable(rows, names[0] as string)
      : tables.join('\n\n');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = join(BENCH_DIR, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const cmd = `node bench/compare.ts ${process.argv.slice(2).join(' ')}`.trim();
  const json = {
    date: new Date().toISOString(),
    machine,
    command: cmd,
    options: o,
    summary: rows,
    ...(baseline === undefined ? {} : { paired }),
    ...(o.large ? { footprints } : {}),
    points,
  };
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
    const md = `<!-- generated by \`${cmd}\` on ${json.date} -->\nMachine: ${machine}. Medians of ${o.reps} run(s) of ${o.durationMs / 1000} s per point (after ${o.warmupMs / 1000} s of warm-up; before the first, ${o.settleMs / 1000} s of unrecorded load per system).\n\n${table}\n`;
    writeFileSync(join(BENCH_DIR, 'latest.md'), md);
  }
  console.log(`\n${table}\n`);
  if (baseline !== undefined && paired.length > 0)
    console.log(
      `Throughput rep by rep (the two clusters' runs of a rep follow each other):\n${pairedLines(paired, names[0] as string, baseline)}\n`,
    );
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
function comparisons(names: readonly string[], baseline: string | undefined): [string, string][] {
  const first = names[0] as string;
  const pairs: [string, string][] = [];
  if (baseline !== undefined) pairs.push([first, baseline]);
  // TLS against plaintext, placement by placement.
  for (const n of names) {
    const plain = n.replace(', tls)', ')');
    if (plain !== n && names.includes(plain)) pairs.push([n, plain]);
  }
  if (names.includes('etcd')) {
    for (const n of names) if (n !== 'etcd' && n !== baseline) pairs.push([n, 'etcd']);
  }
  if (pairs.length === 0) for (const n of names.slice(1)) pairs.push([first, n]);
  return pairs;
}

/** The baseline cluster's name in the tables and the JSON. */
function baselineName(rev: string): string {
  return `ringkv@${rev}`;
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
