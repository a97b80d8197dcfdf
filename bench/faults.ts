// What one put costs each node, counted outside JavaScript's view: starts a 3-node ringkv cluster,
// runs one put-64 repetition of the benchmark's load generator against it (bench/compare.ts
// --endpoints), and prints, per node and per put: the minor page faults (each first touch of a
// page the process mapped, or got back from the kernel after giving it up), the user and system
// CPU, the read and write system calls (/proc/PID/io: sockets and files alike), and from the
// node's own metrics the WAL rounds (one write made durable each), the Raft messages sent to peers
// and the stream writes (batches) that carried them. A put is one the client port answered
// (`ringkv_grpc_server_handled_total` of Put over all nodes: the repetition's, its warm-up's and
// the keys written before it). On a virtual machine a page fault or a system call costs
// microseconds (bench/snapshot-cost.ts shows the machine's price of a fault), so memory the
// runtime keeps mapping again, or work split into many small rounds and writes, shows here.
// usage: node bench/faults.ts [--placement pack] [--clients leader] [--duration-s 10] [--node-args="--flag …"]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPlacement, killAllStarted, startRingkv } from './clusters.ts';
import { type ProcStat, procStat } from './load.ts';
import { scriptOptions } from './script-options.ts';

const USAGE = `usage: node bench/faults.ts [--placement pack|spread] [--clients leader|round-robin] [--duration-s S] [--node-args="--flag …"]
  a 3-node cluster (leaders packed by default) under one put-64 repetition (256 B values) of S
  seconds (default 10), sent to each shard's leader or round-robin over the nodes: per node and per
  put, minor page faults, user and system CPU, read and write system calls, WAL rounds, Raft
  messages and the batches that carried them (note the = of --node-args)`;

const CLIENTS = ['leader', 'round-robin'] as const;

function options(): { placement: 'pack' | 'spread'; clients: string; durationS: number; nodeArgs: string[] } {
  const o = scriptOptions(
    { placement: 'pack', clients: 'leader', 'duration-s': '10', 'node-args': '' },
    USAGE,
  );
  const placement = o.string('placement');
  const clients = o.string('clients');
  if (!isPlacement(placement) || !(CLIENTS as readonly string[]).includes(clients)) {
    process.stderr.write(`--placement is pack or spread, --clients leader or round-robin\n${USAGE}\n`);
    process.exit(2);
  }
  return {
    placement,
    clients,
    durationS: o.int('duration-s', 1, 600),
    nodeArgs: o.string('node-args').split(' ').filter(Boolean),
  };
}

/** A node's counters at one moment. */
interface Sample {
  readonly stat: ProcStat;
  readonly syscallsRead: number;
  readonly syscallsWritten: number;
  /** The node's metrics this report reads, by name. */
  readonly metrics: ReadonlyMap<string, number>;
}

/** The node's counters per put: name in the report → metric (summed over its labelled series). */
const NODE_METRICS: readonly [string, string][] = [
  ['WAL rounds', 'ringkv_wal_fsync_duration_seconds_count'],
  ['Raft messages sent', 'ringkv_peer_sent_messages_total'],
  ['batches sent', 'ringkv_peer_sent_batches_total'],
];
const PUTS_HANDLED = 'ringkv_grpc_server_handled_total{grpc_service="ringkv.v1.KVService",grpc_method="Put"';

/** The sum of the series of each wanted metric in Prometheus text (labels ignored). */
function metricSums(text: string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const series = line.slice(0, space);
    const name = series.startsWith(PUTS_HANDLED) ? PUTS_HANDLED : series.split('{')[0];
    if (name === PUTS_HANDLED || NODE_METRICS.some(([, m]) => m === name)) {
      sums.set(name as string, (sums.get(name as string) ?? 0) + Number(line.slice(space + 1)));
    }
  }
  return sums;
}

async function sample(pid: number, adminEndpoint: string): Promise<Sample> {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1]);
  const text = await (await fetch(`http://${adminEndpoint}/metrics`)).text();
  return {
    stat: procStat(`/proc/${pid}/stat`),
    syscallsRead: field('syscr'),
    syscallsWritten: field('syscw'),
    metrics: metricSums(text),
  };
}

const o = options();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAllStarted();
    process.exit(1);
  });
}
const cluster = await startRingkv({ leaderPlacement: o.placement, nodeArgs: o.nodeArgs });
try {
  if (cluster.adminEndpoints.length !== cluster.pids.length)
    throw new Error('this build of ringkv has no admin port: its counters cannot be read');
  const sampleAll = (): Promise<Sample[]> =>
    Promise.all(cluster.pids.map((pid, i) => sample(pid, cluster.adminEndpoints[i] as string)));
  const before = await sampleAll();
  const out = execFileSync(
    process.execPath,
    [
      join(import.meta.dirname, 'compare.ts'),
      ...['--endpoints', cluster.endpoints.join(','), '--workloads', 'put-64', '--values', '256'],
      ...['--clients', o.clients, '--reps', '1', '--duration-s', String(o.durationS)],
    ],
    { encoding: 'utf8' },
  );
  const after = await sampleAll();
  const rate = /^\| put-64 \| 256 B \| [a-z-]+ \| ([\d,]+) \|/m.exec(out);
  if (rate === null) throw new Error(`could not read the put rate from:\n${out}`);
  const delta = (i: number, name: string): number =>
    ((after[i] as Sample).metrics.get(name) ?? 0) - ((before[i] as Sample).metrics.get(name) ?? 0);
  const puts = cluster.pids.reduce((sum, _, i) => sum + delta(i, PUTS_HANDLED), 0);
  if (!(puts > 0)) throw new Error('the nodes report no put answered: nothing to divide by');
  console.log(
    `put-64, 256 B, leaders ${o.placement === 'pack' ? 'packed' : 'spread'}, sent to ${o.clients === 'leader' ? 'the leaders' : 'the nodes in turn'}: ` +
      `${rate[1]} puts/s; ${puts} puts answered in all`,
  );
  const per = (x: number): string => (x / puts).toFixed(2);
  cluster.pids.forEach((pid, i) => {
    const a = before[i] as Sample;
    const b = after[i] as Sample;
    const counted = NODE_METRICS.map(([label, name]) => `${per(delta(i, name))} ${label}`).join(', ');
    console.log(
      `node${i + 1}: ${per(b.stat.minorFaults - a.stat.minorFaults)} minor faults, ` +
        `${per(b.stat.userUs - a.stat.userUs)} µs user and ${per(b.stat.systemUs - a.stat.systemUs)} µs system CPU, ` +
        `${per(b.syscallsRead - a.syscallsRead)} read and ${per(b.syscallsWritten - a.syscallsWritten)} write system calls, ` +
        `${counted} per put (pid ${pid})`,
    );
  });
} finally {
  await cluster.stop();
}
