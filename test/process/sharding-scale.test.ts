// Sharding at scale, small enough for `npm test`: the scenario of sharding-scenario.ts on 5 real
// processes with R = 3 and 32 shards (1,000 keys of 100 B, 8 writers all along): a 6th node joins,
// node2 is drained, one member is killed with SIGKILL for good under a 10 s dead-node timeout. After
// every phase each shard has exactly 3 voters and no learner; the spread is at most 1.15 after the
// start and the join; the replicas moved on the join, the drain and the replacement are at most 1.1
// times the optimum; the history is linearizable (in-process and by `ringkv check-history`); every
// acknowledged write reads back through every live node, and through a client whose table is from
// before the join.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ProcessCluster, runCli } from './harness.ts';
import {
  type PhaseResult,
  planScenarioCluster,
  runShardingScenario,
  SCENARIO_DEFAULTS,
  type ScenarioResult,
} from './sharding-scenario.ts';

const SPREAD_MAX = 1.15;
const MOVED_OVER_OPTIMUM_MAX = 1.1;

describe('5 nodes, R = 3, 32 shards: a join, a drain and a dead node under 8 writers', {
  timeout: 600_000,
}, () => {
  let c: ProcessCluster | undefined;
  after(async () => {
    await c?.cleanup();
  });

  test('every bound holds, and nothing acknowledged is lost', async (t) => {
    const o = { ...SCENARIO_DEFAULTS, keys: 1000, valueBytes: 100, writers: 8 };
    c = await planScenarioCluster(ProcessCluster.plan.bind(ProcessCluster), o);
    const historyPath = join(c.dir, 'history.edn');
    const r = await runShardingScenario(c, {
      ...o,
      historyPath,
      settleTimeoutMs: 240_000,
      progress: (line) => t.diagnostic(line),
    });
    for (const p of r.phases) t.diagnostic(summary(p));
    const [start, joined, drained, replaced] = r.phases;
    assert.deepEqual(
      r.phases.map((p) => p.name),
      ['start', 'join', 'drain', 'replace'],
    );
    for (const p of r.phases) {
      for (const row of p.table) {
        assert.equal(
          row.voters.length,
          o.replicationFactor,
          `${p.name}: shard ${row.shardId} ${JSON.stringify(row)}`,
        );
        assert.deepEqual(row.learners, [], `${p.name}: shard ${row.shardId}`);
      }
      assert.equal(p.table.length, o.shards, `${p.name}: the table's shards`);
    }
    for (const p of [start!, joined!])
      assert.ok(
        p.maxOverMean <= SPREAD_MAX,
        `${p.name}: max/mean ${p.maxOverMean} (${JSON.stringify([...p.perNode])})`,
      );
    assert.equal(joined!.optimum, 16);
    for (const p of [joined!, drained!, replaced!]) {
      assert.ok(p.optimum > 0, `${p.name}: ${p.node} held no replica`);
      const bound = MOVED_OVER_OPTIMUM_MAX * p.optimum;
      assert.ok(p.added.length <= bound, `${p.name}: ${p.added.length} replicas moved, optimum ${p.optimum}`);
      assert.ok(p.moves.length <= bound, `${p.name}: ${p.moves.length} moves seen, optimum ${p.optimum}`);
      assert.ok(
        p.added.length >= p.optimum,
        `${p.name}: ${p.added.length} replicas moved, optimum ${p.optimum}`,
      );
    }
    assert.equal(drained!.perNode.has(drained!.node), false, 'the drained node holds nothing');
    for (const row of replaced!.table)
      assert.ok(!row.voters.includes(replaced!.node), `shard ${row.shardId}`);
    await checked(r, c);
  });
});

/** The history is linearizable; every acknowledged write reads back, the old client's way too. */
async function checked(r: ScenarioResult, c: ProcessCluster): Promise<void> {
  assert.equal(r.verdict, 'linearizable', `history ${r.historyPath}`);
  const cli = await runCli(['check-history', '--format', 'jepsen-kv', r.historyPath], { timeoutMs: 120_000 });
  assert.equal(cli.code, 0, `${cli.stdout}${cli.stderr}`);
  assert.match(cli.stdout, /linearizable/);
  const during = r.phases.slice(1).reduce((n, p) => n + (p.latency?.ok ?? 0), 0);
  assert.ok(during > 0, 'no request succeeded during the moves');
  assert.ok(r.writers.ackedCount >= 1000, `${r.writers.ackedCount} keys acknowledged`);
  for (const n of r.live) {
    const wrong = await r.writers.readBack(c.client({ endpoints: [n.endpoint], routeToLeaders: false }));
    assert.deepEqual(wrong, [], `read back through ${n.name}`);
  }
  assert.deepEqual(await r.writers.readBack(r.old), [], 'read back by the client from before the join');
}

function summary(p: PhaseResult): string {
  // A move still listed at the watcher's last poll has no end: the longest counts the ended ones.
  const ended = p.moves.flatMap((m) => (m.lastSeenMs === undefined ? [] : [m.lastSeenMs - m.firstSeenMs]));
  const open = p.moves.length - ended.length;
  return (
    `${p.name} ${p.node}: ${(p.tookMs / 1000).toFixed(1)} s, moved ${p.added.length} (optimum ${p.optimum}), ` +
    `${p.moves.length} moves seen${open > 0 ? ` (${open} not seen to end)` : ''}, longest ${Math.max(0, ...ended).toFixed(0)} ms, max/mean ${p.maxOverMean.toFixed(3)}, ` +
    `longest request ${p.latency?.latencyMsMax.toFixed(0) ?? '-'} ms (${p.latency?.latencyMaxOp ?? ''}, ` +
    `+${((p.latencyMaxAfterMs ?? 0) / 1000).toFixed(1)} s, shard ${p.latencyMaxShard?.shardId} moving: ${
      p.latencyMaxShard?.moves.map((m) => `${m.source}>${m.target} ${m.steps.join('/')}`).join(', ') || 'no'
    }), until seen down ${p.latencyUntilDown?.latencyMsMax.toFixed(0) ?? '-'} ms, ` +
    `${p.latency?.failed ?? 0} failed${p.latency?.failures.length ? ` (${p.latency.failures.join('; ')})` : ''}`
  );
}
