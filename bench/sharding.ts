// Sharding at scale, measured: the scenario of test/process/sharding-scenario.ts (5 real processes,
// R = 3, 32 shards; a 6th joins, node2 is drained, a member is killed for good under a 10 s dead-node
// timeout, while the writers write) at the README's size, and a Markdown table of its figures:
// replicas moved against the optimum, max/mean replicas per node, time per phase and per move, and
// the longest wait of any request in each phase. Every acknowledged write is read back through every
// live node and through a client from before the join; the history is checked.
// Run: node bench/sharding.ts [--keys 10000] [--value-bytes 1024] [--writers 8] [--keep-history]
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ProcessCluster } from '../test/process/harness.ts';
import {
  type PhaseResult,
  planScenarioCluster,
  runShardingScenario,
  SCENARIO_DEFAULTS,
} from '../test/process/sharding-scenario.ts';
import type { PhaseLatency } from '../test/process/sharding-writers.ts';

const USAGE = `usage: node bench/sharding.ts [--keys 10000] [--value-bytes 1024] [--writers 8] [--keep-history]
  5 real nodes (R = 3, 32 shards) on loopback: a 6th joins, node2 is drained, node3 is killed for good
  and replaced, while --writers clients write and read --keys keys of --value-bytes each.
  Prints a Markdown table per phase and each phase's first failed requests (with the endpoint that
  answered); exit 1 if the history is not linearizable or an acknowledged write does not read back.
  --keep-history  keep the checked history (.edn) in the temporary directory and print its path`;

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '10000' },
    'value-bytes': { type: 'string', default: '1024' },
    writers: { type: 'string', default: '8' },
    'keep-history': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const o = {
  ...SCENARIO_DEFAULTS,
  keys: positive('keys'),
  valueBytes: positive('value-bytes'),
  writers: positive('writers'),
};

function positive(name: 'keys' | 'value-bytes' | 'writers'): number {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`--${name} must be a positive integer, got ${args[name]}`);
  return v;
}

const c = await planScenarioCluster(ProcessCluster.plan.bind(ProcessCluster), o);
const onSignal = (): void => {
  void c.cleanup().then(() => process.exit(130));
};
process.once('SIGINT', onSignal);
const historyPath = join(args['keep-history'] ? os.tmpdir() : c.dir, `ringkv-sharding-${process.pid}.edn`);
const t0 = performance.now();
let failed = false;
try {
  const r = await runShardingScenario(c, {
    ...o,
    historyPath,
    progress: (line) => console.error(`[${((performance.now() - t0) / 1000).toFixed(0)} s] ${line}`),
  });
  const readBack: string[] = [];
  for (const n of r.live) {
    const wrong = await r.writers.readBack(c.client({ endpoints: [n.endpoint], routeToLeaders: false }));
    readBack.push(wrong.length === 0 ? `${n.name} ok` : `${n.name}: ${wrong.join('; ')}`);
  }
  const oldWrong = await r.writers.readBack(r.old);
  readBack.push(oldWrong.length === 0 ? 'old client ok' : `old client: ${oldWrong.join('; ')}`);
  failed = r.verdict !== 'linearizable' || readBack.some((x) => !x.endsWith(' ok'));
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}, Node ${process.version}`;
  console.log(
    `Command: \`node bench/sharding.ts --keys ${o.keys} --value-bytes ${o.valueBytes} --writers ${o.writers}\``,
  );
  console.log(`Machine: ${machine}. Preload of ${o.keys} keys: ${(r.preloadMs / 1000).toFixed(1)} s.\n`);
  console.log(table(r.phases));
  for (const p of r.phases) {
    const sets: [string, readonly string[] | undefined][] = [
      [`kill ${p.node}, until seen down`, p.latencyUntilDown?.failures],
      [`${p.name} ${p.node}`, p.latency?.failures],
    ];
    for (const [what, failures] of sets) {
      if (failures !== undefined && failures.length > 0)
        console.log(`\nFirst failed requests, ${what}: ${failures.join('; ')}`);
    }
  }
  console.log(
    `\nHistory: ${r.historyOps} operations, ${r.verdict}${args['keep-history'] ? ` (${r.historyPath})` : ''}; ` +
      `${r.writers.ackedCount} keys read back: ${readBack.join(', ')}; status polls unanswered: ${r.missedPolls}.`,
  );
} catch (e) {
  failed = true;
  console.error(e instanceof Error ? e.message : String(e));
} finally {
  await c.cleanup();
}
process.exitCode = failed ? 1 : 0;

function table(phases: readonly PhaseResult[]): string {
  const rows = [
    '| phase | took | replicas moved / optimum | moves seen | time per move: median / max | max/mean replicas per node | longest request wait (what, when after the action) | requests ok / failed |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const p of phases) {
    const ms = p.moves
      .map((m) => (m.lastSeenMs === undefined ? Number.NaN : m.lastSeenMs - m.firstSeenMs))
      .filter((x) => !Number.isNaN(x))
      .sort((a, b) => a - b);
    const median = ms.length === 0 ? '-' : `${(ms[Math.floor(ms.length / 2)]! / 1000).toFixed(1)} s`;
    const max = ms.length === 0 ? '-' : `${(ms.at(-1)! / 1000).toFixed(1)} s`;
    const what = p.name === 'start' ? 'start (5 nodes)' : `${p.name} ${p.node}`;
    const moved = p.name === 'start' ? '-' : `${p.added.length} / ${p.optimum}`;
    const spread = `${p.maxOverMean.toFixed(2)} (${[...p.perNode.values()].join(' ')})`;
    if (p.latencyUntilDown !== undefined)
      rows.push(
        `| kill ${p.node}, until seen down | | | | | | ${wait(p.latencyUntilDown, undefined)} | ${counts(p.latencyUntilDown)} |`,
      );
    const shard = p.latencyMaxShard;
    const moving =
      shard === undefined || shard.moves.length === 0
        ? ''
        : `, its shard ${shard.shardId} moving ${shard.moves.map((m) => `${m.source || '-'}→${m.target || '-'}`).join(', ')}`;
    rows.push(
      `| ${what} | ${(p.tookMs / 1000).toFixed(1)} s | ${moved} | ${p.moves.length} | ${median} / ${max} | ${spread} | ${wait(p.latency, p.latencyMaxAfterMs)}${moving} | ${counts(p.latency)} |`,
    );
  }
  return rows.join('\n');
}

function wait(l: PhaseLatency | undefined, afterMs: number | undefined): string {
  if (l === undefined) return '-';
  const when = afterMs === undefined ? '' : `, +${(afterMs / 1000).toFixed(1)} s`;
  return `${l.latencyMsMax.toFixed(0)} ms (${l.latencyMaxOp}${when})`;
}

function counts(l: PhaseLatency | undefined): string {
  return l === undefined ? '-' : `${l.ok} / ${l.failed}`;
}
