// Where the round-robin tail lies: puts sent round-robin over the members (as etcd's client sends
// them), each request's start, latency, the member it went to and the member leading its key (a
// ringkv shard's leader, etcd's one leader) recorded. Prints the latency of requests that landed on
// their leader against those forwarded, per member, and the bunches: the windows of 100 ms in which
// the most slow requests (at or over the p99) started, with the members they went through. Every
// --sample-ms it reads the kernel's scheduling counters of each member and of itself (time on a
// core, time runnable but waiting for one), and for ringkv every node's metrics, so that each bunch
// shows, in and just after its window, whose threads waited for a core and, per node, the WAL
// writes over 25.6 ms and the garbage collectors' pauses by kind: a bunch over every node at once
// with slow WAL writes on all of them is the shared disk; one node's collection is that node; longer
// waits for a core everywhere are the machine's CPU.
// usage: node bench/tail.ts [--systems ringkv,etcd] [--placement spread] [--settle-s 30] [--duration-s 15]
import { readdirSync, readFileSync } from 'node:fs';
import { PutRequest } from '../src/gen/ringkv/v1/kv.ts';
import { shardOf } from '../src/ring/slots.ts';
import {
  type Cluster,
  ensureEtcd,
  isPlacement,
  killAllStarted,
  type Placement,
  startEtcd,
  startRingkv,
} from './clusters.ts';
import { ETCD_PUT, encodePut } from './etcd-proto.ts';
import { GrpcConnection } from './grpc-client.ts';
import { benchValue, KEY_COUNT_DEFAULT, keyPicker, makeKeys, percentile } from './load.ts';
import { metricTotal } from './prometheus-text.ts';
import { scriptOptions } from './script-options.ts';
import { etcdLeaderIndex, RingkvTarget, ringkvRoutes } from './targets.ts';

const USAGE = `usage: node bench/tail.ts [--systems ringkv,etcd] [--placement spread|pack] [--in-flight N] [--settle-s S] [--duration-s S] [--sample-ms MS] [--serve-args="--flag …"] [--node-args="--flag …"]
  puts of 256 B sent round-robin over a 3-member cluster of each system, N in flight (default 64),
  S seconds unrecorded (default 30), then S recorded (default 15); prints the latency of requests
  that landed on their leader and of those forwarded, and the windows of 100 ms where the slow
  requests (at or over the p99) bunch, with the members they went through, and around each bunch
  how long each member's main thread (etcd: all its threads) and the load generator's ran and
  waited for a core (read every MS, default 100; 0: not); for ringkv also each node's WAL writes
  over 25.6 ms and GC time;
  --serve-args, --node-args: extra \`ringkv serve\` flags and Node flags for the ringkv nodes
  (note the =)`;

const WINDOW_MS = 100;
const BUNCHES_SHOWN = 8;
const SLOW_WAL_LE = '0.0256';

/** One recorded request. */
interface Row {
  readonly startMs: number;
  readonly ms: number;
  /** The member (index into the endpoints) the request went to, and the one leading its key. */
  readonly via: number;
  readonly leader: number;
}

/** A cluster under round-robin load: how to put, and who leads a key. */
interface Subject {
  readonly name: string;
  readonly conns: readonly GrpcConnection[];
  put(via: number, key: Uint8Array, value: Uint8Array): Promise<void>;
  leaderOf(key: Uint8Array): number;
  /** Each member's admin address for /metrics (ringkv), or none. */
  readonly admin: readonly string[];
  /** Each member's process id, for its threads' scheduling. */
  readonly pids: readonly number[];
  /**
   * Whose scheduling counts: the main thread (a Node process: its event loop) or all the process's
   * threads (Go: goroutines run on any of them).
   */
  readonly threads: 'main' | 'all';
}

/**
 * A thread's time on a core and waiting for one (runnable, not running) so far, in ms: the kernel's
 * /proc/<pid>/task/<tid>/schedstat (nanoseconds). A process's main thread has the process's id.
 */
interface Sched {
  readonly ranMs: number;
  readonly waitedMs: number;
}

function schedOf(pid: number, threads: 'main' | 'all'): Sched {
  let ranMs = 0;
  let waitedMs = 0;
  for (const tid of threads === 'main' ? [String(pid)] : readdirSync(`/proc/${pid}/task`)) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8');
    } catch (e) {
      if (threads === 'main') throw e; // the process is gone
      continue; // a thread that ended since the listing
    }
    const [ran, waited] = text.split(' ');
    ranMs += Number(ran) / 1e6;
    waitedMs += Number(waited) / 1e6;
  }
  return { ranMs, waitedMs };
}

/** Per member and then the load generator: "ran / waited" ms between two samples. */
function schedDelta(a: readonly Sched[], b: readonly Sched[]): string {
  return b
    .map((x, i) => {
      const y = a[i] as Sched;
      return `${(x.ranMs - y.ranMs).toFixed(0)}/${(x.waitedMs - y.waitedMs).toFixed(0)}`;
    })
    .join(', ');
}

/** V8's collections as Node's `gc` entries name them: scavenges, mark-compacts, incremental marking. */
const GC_KINDS = ['minor', 'major', 'incremental'] as const;

/** Per node, at one moment: WAL writes over SLOW_WAL_LE so far, and seconds in GC so far (all, and by kind). */
interface NodeCounters {
  readonly slowWal: number;
  readonly gcS: number;
  readonly gcSByKind: readonly number[];
}

async function ringkvSubject(c: Cluster): Promise<Subject> {
  const conns = c.endpoints.map((e) => new GrpcConnection(e));
  const target = new RingkvTarget(c.endpoints);
  const routes = ringkvRoutes(await target.status());
  target.close();
  const leaderByShard = routes.leaderAddrs.map((addr) => {
    const m = c.endpoints.indexOf(addr);
    if (m < 0) throw new Error(`ringkv: a shard's leader ${addr} is not among the endpoints`);
    return m;
  });
  return {
    name: 'ringkv',
    conns,
    admin: c.adminEndpoints,
    pids: c.pids,
    threads: 'main',
    put: async (via, key, value) => {
      await (conns[via] as GrpcConnection).call(
        '/ringkv.v1.KVService/Put',
        PutRequest.encode({ key, value, shardEpoch: 0n, lease: 0n }).finish(),
      );
    },
    leaderOf: (key) => leaderByShard[shardOf(key, routes.shardCount, routes.keyHashing)] as number,
  };
}

async function etcdSubject(c: Cluster): Promise<Subject> {
  const conns = c.endpoints.map((e) => new GrpcConnection(e));
  const leader = await etcdLeaderIndex(conns);
  return {
    name: 'etcd',
    conns,
    admin: [],
    pids: c.pids,
    threads: 'all',
    put: async (via, key, value) => {
      await (conns[via] as GrpcConnection).call(ETCD_PUT, encodePut(key, value));
    },
    leaderOf: () => leader,
  };
}

async function countersOf(admin: string): Promise<NodeCounters> {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  const wal = 'ringkv_wal_fsync_duration_seconds';
  return {
    slowWal: metricTotal(text, `${wal}_count`) - metricTotal(text, `${wal}_bucket`, `le="${SLOW_WAL_LE}"`),
    gcS: metricTotal(text, 'nodejs_gc_duration_seconds_sum'),
    // A kind not seen yet has no series (NaN): none so far.
    gcSByKind: GC_KINDS.map((k) => metricTotal(text, 'nodejs_gc_duration_seconds_sum', `kind="${k}"`) || 0),
  };
}

function latencies(rows: readonly Row[]): string {
  const s = Float64Array.from(rows, (r) => r.ms).sort();
  const f = (q: number): string => percentile(s, q).toFixed(1);
  return `${rows.length} requests, p50 ${f(0.5)} / p90 ${f(0.9)} / p99 ${f(0.99)} / p999 ${f(0.999)} ms`;
}

/** Counts of rows per member, "a/b/c". */
function perMember(rows: readonly Row[], members: number, of: (r: Row) => number): string {
  return Array.from({ length: members }, (_, m) => rows.filter((r) => of(r) === m).length).join('/');
}

async function measure(
  s: Subject,
  o: { inFlight: number; settleMs: number; durationMs: number; sampleMs: number },
): Promise<void> {
  const keys = makeKeys(KEY_COUNT_DEFAULT);
  const value = benchValue(256);
  const rows: Row[] = [];
  let recording = false;
  let stop = false;
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const pick = keyPicker(keys.length);
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (!stop) {
      const key = keys[pick()] as Uint8Array;
      const via = next;
      next = (next + 1) % s.conns.length;
      const start = performance.now();
      try {
        await s.put(via, key, value);
      } catch (e) {
        // Counted and shown, not timed: a failed request is not a latency.
        if (recording) {
          errors++;
          firstError ??= String(e);
        }
        continue;
      }
      if (recording)
        rows.push({ startMs: start - t0, ms: performance.now() - start, via, leader: s.leaderOf(key) });
    }
  };
  const workers = Array.from({ length: o.inFlight }, worker);
  // Read every sampleMs while recording: the time, each node's counters (ringkv; else none), and
  // the main threads' scheduling, each member's and the load generator's last.
  const samples: [number, NodeCounters[], Sched[]][] = [];
  let sampler: Promise<void> = Promise.resolve();
  await new Promise((r) => setTimeout(r, o.settleMs));
  const recordFromMs = performance.now() - t0;
  recording = true;
  if (o.sampleMs > 0) {
    sampler = (async () => {
      while (recording) {
        const counters = await Promise.all(s.admin.map(countersOf));
        const sched = [...s.pids.map((p) => schedOf(p, s.threads)), schedOf(process.pid, 'main')];
        samples.push([performance.now() - t0, counters, sched]);
        await new Promise((r) => setTimeout(r, o.sampleMs));
      }
    })();
  }
  await new Promise((r) => setTimeout(r, o.durationMs));
  recording = false;
  stop = true;
  await Promise.all([...workers, sampler]);

  const members = s.conns.length;
  console.log(`${s.name}: ${((rows.length * 1000) / o.durationMs).toFixed(0)} puts/s; ${latencies(rows)}`);
  if (errors > 0) console.log(`  ${errors} requests failed, the first: ${firstError}`);
  console.log(`  landed on their leader: ${latencies(rows.filter((r) => r.via === r.leader))}`);
  console.log(`  forwarded:              ${latencies(rows.filter((r) => r.via !== r.leader))}`);
  for (let m = 0; m < members; m++)
    console.log(`  via member ${m}: ${latencies(rows.filter((r) => r.via === m))}`);
  const p99 = percentile(Float64Array.from(rows, (r) => r.ms).sort(), 0.99);
  const slow = rows.filter((r) => r.ms >= p99);
  const byWindow = new Map<number, Row[]>();
  for (const r of slow) {
    const w = Math.floor((r.startMs - recordFromMs) / WINDOW_MS);
    const inWindow = byWindow.get(w);
    if (inWindow === undefined) byWindow.set(w, [r]);
    else inWindow.push(r);
  }
  const windows = Math.ceil(o.durationMs / WINDOW_MS);
  console.log(
    `  ${slow.length} slow requests (>= p99, ${p99.toFixed(1)} ms) started in ${byWindow.size} of ${windows} windows of ${WINDOW_MS} ms`,
  );
  const whose = s.threads === 'main' ? 'main threads' : "members' threads";
  const first = samples[0];
  const last = samples.at(-1);
  if (first !== undefined && last !== undefined && last[0] > first[0]) {
    const spanS = (last[0] - first[0]) / 1000;
    const each = first[1].map((f, i) => {
      const l = last[1][i] as NodeCounters;
      return `${l.slowWal - f.slowWal} / ${((l.gcS - f.gcS) * 1000).toFixed(0)} ms (${(((l.gcS - f.gcS) / spanS) * 300).toFixed(1)} ms per 0.3 s)`;
    });
    if (each.length > 0)
      console.log(
        `  per node over ${spanS.toFixed(1)} s, WAL writes over ${Number(SLOW_WAL_LE) * 1000} ms / GC time: ${each.join(', ')}`,
      );
    const per03 = (x: number): string => ((x / spanS) * 0.3).toFixed(0);
    const sched = last[2].map((l, i) => {
      const f = first[2][i] as Sched;
      return `${per03(l.ranMs - f.ranMs)}/${per03(l.waitedMs - f.waitedMs)}`;
    });
    console.log(
      `  ${whose}, ms on a core / waiting for one per 0.3 s (each member, then the load generator's main thread): ${sched.join(', ')}`,
    );
  }
  const bunches = [...byWindow].sort((a, b) => b[1].length - a[1].length).slice(0, BUNCHES_SHOWN);
  for (const [w, rs] of bunches) {
    const fromMs = recordFromMs + w * WINDOW_MS;
    let line = `   at ${((fromMs - recordFromMs) / 1000).toFixed(1)} s: ${rs.length} slow, longest ${Math.max(...rs.map((r) => r.ms)).toFixed(0)} ms; went to members ${perMember(rs, members, (r) => r.via)}, led by ${perMember(rs, members, (r) => r.leader)}`;
    // The counters' change from the last sample before the window to the first after its next one.
    const before = samples.filter(([t]) => t <= fromMs).at(-1);
    const after = samples.find(([t]) => t >= fromMs + 2 * WINDOW_MS);
    if (before !== undefined && after !== undefined && before[1].length > 0) {
      const d = before[1].map((b, i) => {
        const a = after[1][i] as NodeCounters;
        const kinds = GC_KINDS.map((_, k) =>
          (((a.gcSByKind[k] ?? 0) - (b.gcSByKind[k] ?? 0)) * 1000).toFixed(0),
        );
        return `${a.slowWal - b.slowWal} / ${((a.gcS - b.gcS) * 1000).toFixed(0)} ms (${kinds.join('+')})`;
      });
      line += `; per node, WAL writes over ${Number(SLOW_WAL_LE) * 1000} ms / GC time (${GC_KINDS.join('+')}), ${((after[0] - before[0]) / 1000).toFixed(2)} s around it: ${d.join(', ')}`;
    }
    if (before !== undefined && after !== undefined)
      line += `; ${whose} on a core / waiting (members, generator): ${schedDelta(before[2], after[2])} ms`;
    console.log(line);
  }
}

const o = scriptOptions(
  {
    systems: 'ringkv,etcd',
    placement: 'spread',
    'in-flight': '64',
    'settle-s': '30',
    'duration-s': '15',
    'sample-ms': '100',
    'serve-args': '',
    'node-args': '',
  },
  USAGE,
);
const systems = o.string('systems').split(',');
const placement = o.string('placement');
if (systems.some((s) => s !== 'ringkv' && s !== 'etcd') || !isPlacement(placement)) {
  process.stderr.write(`--systems is ringkv, etcd or both; --placement pack or spread\n${USAGE}\n`);
  process.exit(2);
}
const run = {
  inFlight: o.int('in-flight', 1, 4096),
  settleMs: o.int('settle-s', 0, 600) * 1000,
  durationMs: o.int('duration-s', 1, 600) * 1000,
  sampleMs: o.int('sample-ms', 0, 10_000),
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAllStarted();
    process.exit(1);
  });
}
try {
  for (const system of systems) {
    if (system === 'etcd') ensureEtcd((line) => console.log(line));
    const cluster =
      system === 'ringkv'
        ? await startRingkv({
            leaderPlacement: placement as Placement,
            serveArgs: o.string('serve-args').split(' ').filter(Boolean),
            nodeArgs: o.string('node-args').split(' ').filter(Boolean),
          })
        : await startEtcd();
    try {
      const subject = system === 'ringkv' ? await ringkvSubject(cluster) : await etcdSubject(cluster);
      await measure(subject, run);
      for (const c of subject.conns) c.close();
    } finally {
      await cluster.stop();
    }
  }
} finally {
  killAllStarted();
}
