// `ringkv cluster health` against 3 real nodes: all healthy (exit 0); one SIGSTOPped (a hung node,
// whose kernel still accepts connections): that node reported unreachable within its per-node
// timeout, the other two healthy, exit 1; resumed: healthy again. Every node is stopped by pid in
// cleanup(), the paused one too (SIGCONT first).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { NodeHealth } from '../../src/cli/commands/health.ts';
import { type CliRun, ProcessCluster, runCli, waitUntil } from './harness.ts';

/** The per-node timeout with the default --timeout-ms (5000): a fifth of it. */
const NODE_TIMEOUT_MS = 1000;
/** What a timer and a loaded 2-core machine may add to it. */
const SLACK_MS = 500;

describe('cluster health on a 3-node cluster', { timeout: 180_000 }, () => {
  let c: ProcessCluster;
  let endpoints: string;

  const health = (...args: string[]): Promise<CliRun> =>
    runCli(['cluster', 'health', '--endpoints', endpoints, ...args], { timeoutMs: 30_000 });

  before(async () => {
    c = await ProcessCluster.start({ extraArgs: ['--host', '127.0.0.1'] });
    endpoints = c.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  });

  after(async () => {
    await c?.cleanup();
  });

  test('every node healthy: one line each, exit 0', async () => {
    // Just formed, the balancer is still handing leaderships over (spread): a node that has not
    // heard of a group's new leader yet is rightly not ready for a moment.
    let last: CliRun | undefined;
    const r = await waitUntil('cluster health to exit 0', 30_000, async () => {
      last = await health();
      return last.code === 0 ? last : undefined;
    }).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}: ${last?.stdout ?? ''}\n${last?.stderr ?? ''}`);
    });
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3, r.stdout);
    for (const n of c.nodes) {
      assert.match(
        r.stdout,
        new RegExp(
          `^${n.name} \\(127\\.0\\.0\\.1:${n.port}\\) is healthy: reachable, ready, took \\d+ ms$`,
          'm',
        ),
      );
    }
  });

  test('one node stopped (SIGSTOP): it is unhealthy within its timeout, the others healthy, exit 1', async (t) => {
    const hung = c.nodes[2]!;
    const survivors = c.nodes.filter((n) => n !== hung);
    hung.pause();
    try {
      // The survivors must first elect leaders for the groups the stopped node led: until then
      // they are rightly not ready (a group without a leader they know).
      await waitUntil('the survivors to lead every group', 30_000, async () => {
        for (const s of survivors) {
          const st = await c.statusOf(s, 1000);
          if (st === undefined || st.shards.length === 0) return undefined;
          if (!st.shards.every((g) => survivors.some((x) => x.name === g.leader))) return undefined;
        }
        return true;
      });
      const r = await health('--output', 'json');
      assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
      const nodes = JSON.parse(r.stdout) as NodeHealth[];
      t.diagnostic(
        nodes.map((n) => `${n.nodeId} healthy=${n.healthy} took ${n.tookMs} ms ${n.reason}`).join('; '),
      );
      assert.deepEqual(nodes.map((n) => n.nodeId).sort(), c.nodes.map((n) => n.name).sort());
      const h = nodes.find((n) => n.nodeId === hung.name)!;
      assert.deepEqual([h.healthy, h.reachable, h.ready], [false, false, false], JSON.stringify(h));
      assert.ok(
        h.tookMs >= NODE_TIMEOUT_MS * 0.8 && h.tookMs <= NODE_TIMEOUT_MS + SLACK_MS,
        `the stopped node was given up on after ${h.tookMs} ms (per-node timeout ${NODE_TIMEOUT_MS} ms)`,
      );
      for (const n of nodes.filter((x) => x !== h)) {
        assert.deepEqual([n.healthy, n.reachable, n.ready], [true, true, true], JSON.stringify(n));
        assert.ok(n.tookMs < NODE_TIMEOUT_MS, JSON.stringify(n));
      }
      const text = await health();
      assert.equal(text.code, 1, text.stderr);
      assert.match(
        text.stdout,
        new RegExp(`^${hung.name} \\(.*\\) is unhealthy: unreachable, took \\d+ ms: `, 'm'),
      );
      assert.equal(
        (text.stdout.match(/ is healthy: reachable, ready, took \d+ ms$/gm) ?? []).length,
        2,
        text.stdout,
      );
    } finally {
      hung.resume();
    }
    // Resumed, it answers again: exit 0 once it has caught up (bounded).
    await waitUntil(
      'cluster health to exit 0 again',
      30_000,
      async () => ((await health()).code === 0 ? true : undefined),
      500,
    );
  });
});
