// Sharding on the ring with real `ringkv serve` processes: 3 nodes with R = 3 and 8 shards hold every
// shard each; a 4th node joins while a small writer keeps writing, and the rebalancer moves to it the
// replicas the ring gives it (learner, catch-up, joint consensus, the source's copy deleted). At the
// end every shard has exactly 3 voters and no learner, each node holds ⌊24/4⌋ or ⌈24/4⌉ replicas and
// hosts no other shard, and every write acknowledged during the join reads back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bytesToUtf8, type StatusResponse } from '../../src/client/index.ts';
import { AckedWrites } from './acked.ts';
import { ProcessCluster, runCli, waitUntil } from './harness.ts';

const SHARDS = 8;
const R = 3;

describe('a 4th node joins a cluster of 3 with R = 3', { timeout: 240_000 }, () => {
  let c: ProcessCluster;
  const acked = new AckedWrites();

  before(async () => {
    c = await ProcessCluster.plan({
      nodes: 4,
      extraArgs: ['--shards', String(SHARDS), '--replication_factor', String(R)],
    });
    const [n1, n2, n3] = c.nodes;
    n1!.start();
    await c.waitAnswers(n1!, 60_000);
    n2!.start();
    n3!.start();
    await waitUntil('3 nodes to hold every shard', 60_000, async () => {
      const s = await c.statusOf(n1!);
      const whole =
        s?.shards.length === SHARDS + 1 && s.shards.every((g) => g.voters.length === 3 && g.leader !== '');
      return whole ? true : undefined;
    });
  });

  after(async () => {
    await c?.cleanup();
  });

  test('the rebalancer moves its share to it; nothing acknowledged is lost', async () => {
    // A client that learns the shard table now and is not used again until the replicas have moved:
    // its requests carry the old epochs, and the nodes that gave a shard up send it on (stale route).
    const early = c.client({ endpoints: c.endpoints.slice(0, 3) });
    await acked.put(early, 'before-join', 'v');
    const client = c.client({ endpoints: c.endpoints.slice(0, 3) });
    let writing = true;
    let failures = 0;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await acked.put(client, `during-join-${i}`, `v${i}`).catch(() => {
          failures++;
        });
      }
    })();
    try {
      c.node('node4').start();
      // While node4 takes its share, the dry run names the moves to it (one at a time per target:
      // the rest are held back) and why.
      const wanted = await waitUntil(
        'cluster rebalance --dry-run to name moves to node4',
        60_000,
        async () => {
          const r = await runCli([
            'cluster',
            'rebalance',
            '--dry-run',
            '--output',
            'json',
            '--endpoints',
            c.endpoints.join(','),
          ]);
          const out = JSON.parse(r.stdout || '{"wanted":[]}') as {
            wanted: { shardId: number; target: string | null; reason: string; deferred: string | null }[];
          };
          return out.wanted.length > 0 ? out.wanted : undefined;
        },
        500,
      );
      for (const m of wanted) {
        assert.equal(m.target, 'node4', JSON.stringify(m));
        assert.equal(m.reason, 'balance', JSON.stringify(m));
        assert.ok(m.shardId >= 1 && m.shardId <= SHARDS, JSON.stringify(m));
      }
      const spread = await waitUntil(
        'every shard on 3 voters, each node at its share',
        180_000,
        async () => {
          const statuses = await Promise.all(c.nodes.map((n) => c.statusOf(n)));
          return settled(statuses);
        },
        500,
      );
      const counts = [...spread.values()];
      assert.deepEqual(counts.sort(), [6, 6, 6, 6], `replicas per node: ${JSON.stringify([...spread])}`);
    } finally {
      writing = false;
      await writer;
    }
    assert.ok(acked.size > 0, `no write was acknowledged during the join (${failures} failed)`);
    // Read back through every node, the joiner included (it forwards what it does not hold), and
    // through the client whose table is from before the join.
    for (const n of c.nodes) await acked.verify(c.client({ endpoints: [n.endpoint], routeToLeaders: false }));
    await acked.verify(early);
    // A scan through any one node gathers every shard, the ones it holds no replica of included;
    // small pages make the continuation cross shards held on different nodes.
    for (const n of c.nodes) {
      const one = c.client({ endpoints: [n.endpoint], routeToLeaders: false });
      await acked.verifyScan(one, 'during-join-', { limit: 7 });
      await acked.verifyScan(one, 'during-join-', { serializable: true, limit: 50 });
    }
    await oneShardScans(c);
    await seenByTheCli(c);
  });

  // The replicas node4 took come back to the nodes that gave them up: each of those deleted its
  // replica (a tombstone in its WAL) and now holds the shard again, from an empty log.
  test('node4 leaves: the shards go back to the nodes that had dropped them; nothing is lost', async () => {
    const three = c.nodes.filter((n) => n.name !== 'node4');
    const leave = await runCli([
      'cluster',
      'leave',
      'node4',
      '--endpoints',
      three.map((n) => n.endpoint).join(','),
      '--timeout-ms',
      '150000',
    ]);
    assert.equal(leave.code, 0, `${leave.stdout}${leave.stderr}`);
    // Its progress, a line per step off a terminal, ends with every replica moved.
    const steps = [...leave.stderr.matchAll(/^draining node4: (\d+)\/(\d+) replicas moved$/gm)];
    assert.ok(steps.length >= 2, `leave progress: ${leave.stderr}`);
    const [, lastDone, total] = steps.at(-1)!;
    assert.ok(Number(total) >= 1 && lastDone === total, `leave progress ends at ${lastDone}/${total}`);
    await waitUntil(
      'every shard back on node1-3, each hosting all of them',
      60_000,
      async () => {
        const statuses = await Promise.all(three.map((n) => c.statusOf(n)));
        return statuses.every(
          (s) =>
            s !== undefined &&
            s.shards.length === SHARDS + 1 &&
            s.shards.every((g) => g.voters.length === 3 && !g.voters.includes('node4') && g.leader !== ''),
        )
          ? true
          : undefined;
      },
      500,
    );
    // Restarted, each node holds what it held (its log starting over after the tombstone recovers).
    const n2 = c.node('node2');
    await n2.stop();
    n2.start();
    await c.waitAnswers(n2, 60_000);
    for (const n of three) {
      const one = c.client({ endpoints: [n.endpoint], routeToLeaders: false });
      await acked.verify(one);
      await waitUntil(
        `${n.name} to hold every key itself`,
        30_000,
        async () => ((await acked.matches(one, { serializable: true })) ? true : undefined),
        500,
      );
    }
  });
});

/**
 * A scan of one shard (ScanRequest.shard) is served by the contacted node's own replica: the
 * holders of a shard answer with the same keys; a node that holds none answers UNAVAILABLE rather
 * than asking another.
 */
async function oneShardScans(c: ProcessCluster): Promise<void> {
  const s = await c.statusOf(c.nodes[0]!);
  assert.ok(s !== undefined, 'node1 answers Status');
  const through = new Map(
    c.nodes.map((n) => [n, c.client({ endpoints: [n.endpoint], routeToLeaders: false })]),
  );
  for (const p of s.placement) {
    const holders = c.nodes.filter((n) => p.voters.includes(n.name));
    assert.equal(holders.length, R, `shard ${p.shardId} on ${p.voters.join(',')}`);
    for (const n of c.nodes.filter((x) => !holders.includes(x))) {
      await assert.rejects(
        through.get(n)!.scan({ shard: p.shardId, serializable: true, timeoutMs: 1000 }),
        /does not host group/,
        `${n.name} holds no replica of shard ${p.shardId}`,
      );
    }
    // The writer has stopped: the followers apply the last commits within a heartbeat or two.
    await waitUntil(
      `the ${R} replicas of shard ${p.shardId} to hold the same keys`,
      15_000,
      async () => {
        const states: string[] = [];
        for (const n of holders) {
          const r = await through
            .get(n)!
            .scan({ shard: p.shardId, serializable: true, limit: 10_000, timeoutMs: 2000 });
          states.push(r.items.map((i) => `${i.version}:${bytesToUtf8(i.key)}`).join(','));
        }
        return states.every((x) => x === states[0]) && states[0] !== '' ? true : undefined;
      },
      250,
    );
  }
}

/** `shard list` and `cluster status` (JSON) show the same: 3 voters per shard, a leader, no move. */
async function seenByTheCli(c: ProcessCluster): Promise<void> {
  // A loaded machine answers Status slowly: each member gets a fifth of --timeout-ms.
  const endpoints = ['--endpoints', c.endpoints.join(','), '--timeout-ms', '20000'];
  const list = await runCli(['shard', 'list', '--output', 'json', ...endpoints]);
  assert.equal(list.code, 0, list.stderr);
  const parsed = JSON.parse(list.stdout) as { wantedMoves: unknown[] };
  assert.deepEqual(parsed.wantedMoves, [], 'the table is the ring placement: the rebalancer wants no move');
  const text = await runCli(['shard', 'list', ...endpoints]);
  assert.match(text.stdout, /^balanced: every shard is where the ring places it$/m);
  const dry = await runCli(['cluster', 'rebalance', '--dry-run', ...endpoints]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^balanced: every shard is where the ring places it; nothing to move$/m);
  const rows = (
    JSON.parse(list.stdout) as {
      shards: {
        shardId: number;
        voters: string[];
        learners: string[];
        leader: string;
        epoch: number;
        move: unknown;
      }[];
    }
  ).shards;
  assert.deepEqual(
    rows.map((r) => r.shardId),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  for (const r of rows) {
    assert.equal(r.voters.length, R, `shard ${r.shardId}: ${JSON.stringify(r)}`);
    assert.deepEqual([r.learners, r.move], [[], null], `shard ${r.shardId}`);
    assert.ok(r.voters.includes(r.leader), `shard ${r.shardId} led by ${r.leader}`);
  }
  assert.ok(
    rows.some((r) => r.epoch > 1),
    'no shard changed its replicas',
  );
  const status = await runCli(['cluster', 'status', '--output', 'json', ...endpoints]);
  const view = JSON.parse(status.stdout) as {
    shards: { shardId: number; voters: string[]; learners: string[]; leader: string }[];
    problems: string[];
  };
  assert.equal(status.code, 0, view.problems.join('; '));
  for (const g of view.shards.filter((x) => x.shardId !== 0)) {
    const row = rows.find((r) => r.shardId === g.shardId);
    assert.deepEqual([...g.voters].sort(), row?.voters, `shard ${g.shardId}`);
    assert.deepEqual(g.learners, []);
  }
}

/**
 * Replicas per node once every shard has exactly R voters and no learner (each leader's view, and
 * each node hosting exactly the shards it is a voter of), else undefined.
 */
function settled(statuses: readonly (StatusResponse | undefined)[]): Map<string, number> | undefined {
  const perNode = new Map<string, number>();
  const leaderView = new Map<number, { voters: string[]; learners: string[] }>();
  for (const s of statuses) {
    if (s === undefined) return undefined;
    for (const g of s.shards) {
      if (g.shardId === 0) continue;
      if (g.leader === s.nodeId) leaderView.set(g.shardId, { voters: g.voters, learners: g.learners });
      // A node hosts only the shards it is a voter of: a replica moved away was deleted.
      if (!g.voters.includes(s.nodeId)) return undefined;
      perNode.set(s.nodeId, (perNode.get(s.nodeId) ?? 0) + 1);
    }
  }
  if (leaderView.size !== SHARDS) return undefined;
  for (const v of leaderView.values()) if (v.voters.length !== R || v.learners.length > 0) return undefined;
  const floor = Math.floor((SHARDS * R) / statuses.length);
  const ceil = Math.ceil((SHARDS * R) / statuses.length);
  for (const n of perNode.values()) if (n < floor || n > ceil) return undefined;
  return perNode.size === statuses.length ? perNode : undefined;
}
