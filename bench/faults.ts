// Where a node's CPU per request goes between user and kernel, and how much memory it faults in per
// request: starts a 3-node ringkv cluster with leaders packed, runs one put-64 repetition of the
// benchmark's load generator against it (bench/compare.ts --endpoints), and prints, per node, the
// minor page faults (each first touch of a page the process mapped, or got back from the kernel
// after giving it up), the user and system CPU, each per put. On a virtual machine a page fault
// costs microseconds (bench/snapshot-cost.ts shows the machine's price), so memory the runtime
// keeps returning and mapping again shows here as system CPU per request.
// usage: node bench/faults.ts [--duration-s 10] [--node-args="--flag …"]
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { killAllStarted, startRingkv } from './clusters.ts';
import { KEY_COUNT_DEFAULT, type ProcStat, procStat } from './load.ts';
import { scriptOptions } from './script-options.ts';

const USAGE = `usage: node bench/faults.ts [--duration-s S] [--node-args="--flag …"]
  a packed 3-node cluster under one put-64 repetition (256 B values) of S seconds (default 10):
  minor page faults, user and system CPU of each node per put (note the = of --node-args)`;

function options(): { durationS: number; nodeArgs: string[] } {
  const o = scriptOptions({ 'duration-s': '10', 'node-args': '' }, USAGE);
  return {
    durationS: o.int('duration-s', 1, 600),
    nodeArgs: o.string('node-args').split(' ').filter(Boolean),
  };
}

const o = options();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAllStarted();
    process.exit(1);
  });
}
const cluster = await startRingkv({ leaderPlacement: 'pack', nodeArgs: o.nodeArgs });
try {
  const sample = (pid: number): ProcStat => procStat(`/proc/${pid}/stat`);
  const before = cluster.pids.map(sample);
  const out = execFileSync(
    process.execPath,
    [
      join(import.meta.dirname, 'compare.ts'),
      '--endpoints',
      cluster.endpoints.join(','),
      '--workloads',
      'put-64',
      '--values',
      '256',
      '--clients',
      'leader',
      '--reps',
      '1',
      '--duration-s',
      String(o.durationS),
    ],
    { encoding: 'utf8' },
  );
  const after = cluster.pids.map(sample);
  // The repetition's rate; the warm-up second and the keys written before it are puts too.
  const rate = /^\| put-64 \| 256 B \| leader \| ([\d,]+) \|/m.exec(out);
  if (rate === null) throw new Error(`could not read the put rate from:\n${out}`);
  const perSecond = Number((rate[1] as string).replaceAll(',', ''));
  const puts = perSecond * (o.durationS + 1) + KEY_COUNT_DEFAULT;
  console.log(`put-64, 256 B, leaders packed: ${perSecond} puts/s; about ${puts} puts in all`);
  cluster.pids.forEach((pid, i) => {
    const a = before[i] as ProcStat;
    const b = after[i] as ProcStat;
    const per = (x: number): string => (x / puts).toFixed(2);
    console.log(
      `node${i + 1}${i === 0 ? ' (leader)' : ''}: ${per(b.minorFaults - a.minorFaults)} minor faults, ` +
        `${per(b.userUs - a.userUs)} µs user and ${per(b.systemUs - a.systemUs)} µs system CPU per put (pid ${pid})`,
    );
  });
} finally {
  await cluster.stop();
}
