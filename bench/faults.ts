// What one put costs each node, counted outside JavaScript's view: starts a 3-node ringkv cluster,
// runs one put repetition (64 in flight unless --in-flight says otherwise) of the benchmark's load
// generator against it (bench/compare.ts --endpoints), and prints, per node and per put: the minor
// page faults (each first touch of a page the process mapped, or got back from the kernel after
// giving it up), the user and system CPU, the read and write system calls (/proc/PID/io: sockets
// and files alike), and from the node's own metrics the WAL rounds (one write made durable each),
// the Raft messages sent to peers and the stream writes (batches) that carried them, and V8's
// collections: the scavenges (young generation) and the time spent in them, in mark-compacts and in
// incremental marking (Node's `gc` performance entries, which the node's
// `nodejs_gc_duration_seconds` sums by kind). A put is one the client port answered
// (`ringkv_grpc_server_handled_total` of Put over all nodes: the repetition's, its warm-up's and
// the keys written before it). On a virtual machine a page fault or a system call costs
// microseconds (bench/snapshot-cost.ts shows the machine's price of a fault), so memory the runtime
// keeps mapping again, or work split into many small rounds and writes, shows here.
// usage: node bench/faults.ts [--placement pack] [--clients leader] [--in-flight 64] [--duration-s 10] [--node-args="--flag …"]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPlacement, killAllStarted, type Placement, startRingkv } from './clusters.ts';
import { type ProcStat, procStat } from './load.ts';
import { metricTotal } from './prometheus-text.ts';
import { scriptOptions } from './script-options.ts';
import { type ClientMode, isClientMode } from './targets.ts';

const USAGE = `usage: node bench/faults.ts [--placement pack|spread] [--clients leader|round-robin] [--in-flight 1|16|64|256] [--duration-s S] [--shards N] [--node-args="--flag …"]
  a 3-node cluster of N shards (default 8; leaders packed by default) under one put repetition (256 B values, 64
  requests in flight unless --in-flight says otherwise: compare.ts's put-N workloads) of S
  seconds (default 10), sent to each shard's leader or round-robin over the nodes: per node and per
  put, minor page faults, user and system CPU, read and write system calls, WAL rounds, Raft
  messages and the batches that carried them, scavenges, and the µs spent in scavenges,
  mark-compacts and incremental marking (note the = of --node-args)`;

function options(): {
  placement: Placement;
  clients: ClientMode;
  inFlight: number;
  durationS: number;
  shards: number;
  nodeArgs: string[];
} {
  const o = scriptOptions(
    {
      placement: 'pack',
      clients: 'leader',
      'in-flight': '64',
      'duration-s': '10',
      shards: '8',
      'node-args': '',
    },
    USAGE,
  );
  const placement = o.string('placement');
  const clients = o.string('clients');
  if (!isPlacement(placement) || !isClientMode(clients)) {
    process.stderr.write(`--placement is pack or spread, --clients leader or round-robin\n${USAGE}\n`);
    process.exit(2);
  }
  const inFlight = o.int('in-flight', 1, 256);
  if (![1, 16, 64, 256].includes(inFlight)) {
    process.stderr.write(`--in-flight is 1, 16, 64 or 256 (compare.ts's put workloads)\n${USAGE}\n`);
    process.exit(2);
  }
  return {
    placement,
    clients,
    inFlight,
    durationS: o.int('duration-s', 1, 600),
    shards: o.int('shards', 1, 1024),
    nodeArgs: o.string('node-args').split(' ').filter(Boolean),
  };
}

/** A node's counters at one moment. */
interface Sample {
  readonly stat: ProcStat;
  readonly syscallsRead: number;
  readonly syscallsWritten: number;
  /** The node's metrics this report reads (PUTS, NODE_METRICS, GC_METRICS), by keyOf. */
  readonly metrics: ReadonlyMap<string, number>;
}

/** A metric per put: its name in the report, the metric, the labels it needs, its unit's scale. */
interface NodeMetric {
  readonly label: string;
  readonly name: string;
  readonly having: string;
  readonly scale: number;
}
const counted = (label: string, name: string): NodeMetric => ({ label, name, having: '', scale: 1 });
/** Puts the node's client port answered: what the others are divided by. */
const PUTS: NodeMetric = {
  label: 'puts answered',
  name: 'ringkv_grpc_server_handled_total',
  having: 'grpc_method="Put"',
  scale: 1,
};
/**
 * V8's collections of one kind (Node's `gc` performance entries, which the node's metrics count and
 * sum by kind): their main-thread pauses in µs per put, or (count) how many per 1,000 puts.
 */
const gc = (label: string, kind: string, count = false): NodeMetric => ({
  label,
  name: count ? 'nodejs_gc_duration_seconds_count' : 'nodejs_gc_duration_seconds_sum',
  having: `kind="${kind}"`,
  scale: count ? 1000 : 1e6,
});
/** The node's counters per put (each summed over its series with the labels given). */
const NODE_METRICS: readonly NodeMetric[] = [
  counted('WAL rounds', 'ringkv_wal_fsync_duration_seconds_count'),
  counted('Raft messages sent', 'ringkv_peer_sent_messages_total'),
  counted('batches sent', 'ringkv_peer_sent_batches_total'),
];
/** Its garbage collections, on a line of their own. */
const GC_METRICS: readonly NodeMetric[] = [
  gc('scavenges per 1,000 puts', 'minor', true),
  gc('µs per put in scavenges', 'minor'),
  gc('in mark-compacts', 'major'),
  gc('in incremental marking', 'incremental'),
];
/** The key a metric's value is kept under in a Sample. */
const keyOf = (m: NodeMetric): string => `${m.name}${m.having}`;

async function sample(pid: number, adminEndpoint: string): Promise<Sample> {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1]);
  const text = await (await fetch(`http://${adminEndpoint}/metrics`)).text();
  return {
    stat: procStat(`/proc/${pid}/stat`),
    syscallsRead: field('syscr'),
    syscallsWritten: field('syscw'),
    metrics: new Map([
      // A labelled series has no sample before its first increment (a follower of packed leaders
      // answers no put; a node may not have had a mark-compact yet): 0 then. The unlabelled
      // counters: NaN if this build lacks one.
      ...[PUTS, ...NODE_METRICS, ...GC_METRICS].map((m): [string, number] => {
        const v = metricTotal(text, m.name, m.having);
        return [keyOf(m), m.having === '' ? v : v || 0];
      }),
    ]),
  };
}

const o = options();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAllStarted();
    process.exit(1);
  });
}
const cluster = await startRingkv({ leaderPlacement: o.placement, shards: o.shards, nodeArgs: o.nodeArgs });
try {
  if (cluster.adminEndpoints.length !== cluster.pids.length)
    throw new Error('this build of ringkv has no admin port: its counters cannot be read');
  const sampleAll = (): Promise<Sample[]> =>
    Promise.all(cluster.pids.map((pid, i) => sample(pid, cluster.adminEndpoints[i] as string)));
  const before = await sampleAll();
  const workload = `put-${o.inFlight}`;
  const out = execFileSync(
    process.execPath,
    [
      join(import.meta.dirname, 'compare.ts'),
      ...['--endpoints', cluster.endpoints.join(','), '--workloads', workload, '--values', '256'],
      ...['--clients', o.clients, '--reps', '1', '--duration-s', String(o.durationS)],
    ],
    { encoding: 'utf8' },
  );
  const after = await sampleAll();
  const rate = new RegExp(`^\\| ${workload} \\| 256 B \\| [a-z-]+ \\| ([\\d,]+) \\|`, 'm').exec(out);
  if (rate === null) throw new Error(`could not read the put rate from:\n${out}`);
  const delta = (i: number, name: string): number =>
    ((after[i] as Sample).metrics.get(name) as number) - ((before[i] as Sample).metrics.get(name) as number);
  const puts = cluster.pids.reduce((sum, _, i) => sum + delta(i, keyOf(PUTS)), 0);
  if (!(puts > 0)) throw new Error('the nodes report no put answered: nothing to divide by');
  console.log(
    `${workload}, 256 B, leaders ${o.placement === 'pack' ? 'packed' : 'spread'}, sent to ${o.clients === 'leader' ? 'the leaders' : 'the nodes in turn'}: ` +
      `${rate[1]} puts/s; ${puts} puts answered in all`,
  );
  const per = (x: number): string => (x / puts).toFixed(2);
  cluster.pids.forEach((pid, i) => {
    const a = before[i] as Sample;
    const b = after[i] as Sample;
    const list = (ms: readonly NodeMetric[]): string =>
      ms.map((m) => `${per(delta(i, keyOf(m)) * m.scale)} ${m.label}`).join(', ');
    console.log(
      `node${i + 1}: ${per(b.stat.minorFaults - a.stat.minorFaults)} minor faults, ` +
        `${per(b.stat.userUs - a.stat.userUs)} µs user and ${per(b.stat.systemUs - a.stat.systemUs)} µs system CPU, ` +
        `${per(b.syscallsRead - a.syscallsRead)} read and ${per(b.syscallsWritten - a.syscallsWritten)} write system calls, ` +
        `${list(NODE_METRICS)} per put (pid ${pid})`,
    );
    console.log(`       GC: ${list(GC_METRICS)}`);
  });
} finally {
  await cluster.stop();
}
