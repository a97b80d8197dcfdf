// The admin port of real `ringkv serve` processes: a scrape during a cluster test sees puts move
// ringkv_proposals_committed_total; /livez and /readyz answer 200 on every node; a node cut off from
// the others (both of them paused with SIGSTOP: it is the one still running, and it loses every
// leader) turns /readyz 503, naming the failed checks under ?verbose, and back to 200 once they
// resume. Every wait is bounded; cleanup kills every process by pid (resuming paused ones first).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProcessCluster, type ProcessNode, waitUntil } from './harness.ts';

/** Bound on one HTTP request to the admin port. */
const REQUEST_TIMEOUT_MS = 2000;

async function get(node: ProcessNode, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${node.adminUrl}${path}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { status: res.status, body: await res.text() };
}

/** The sum of every sample of metric `name` (any labels) in a Prometheus text exposition. */
function total(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('the admin port of a 3-node cluster', { timeout: 240_000 }, () => {
  let c: ProcessCluster;

  before(async () => {
    c = await ProcessCluster.start({ nodes: 3 });
  });

  after(async () => {
    for (const n of c?.nodes ?? []) if (n.running) n.resume();
    await c?.cleanup();
  });

  test('puts move ringkv_proposals_committed_total in a scrape of a node', async () => {
    const node1 = c.nodes[0]!;
    const first = await get(node1, '/metrics');
    assert.equal(first.status, 200, node1.tail());
    const before = total(first.body, 'ringkv_proposals_committed_total');
    assert.ok(before > 0, `the groups' commit indexes are there:\n${first.body.slice(0, 2000)}`);
    const client = c.client({ defaultTimeoutMs: 10_000 });
    for (let i = 0; i < 20; i++) await client.put(`admin-${i}`, `v${i}`);
    // The puts commit on node1 too (it is a voter of every shard); its commit index may trail by a heartbeat.
    const after = await waitUntil('node1 to count the puts as committed', 10_000, async () => {
      const n = total((await get(node1, '/metrics')).body, 'ringkv_proposals_committed_total');
      return n >= before + 20 ? n : undefined;
    });
    assert.ok(after >= before + 20, `committed ${before} → ${after}`);
  });

  test('/livez and /readyz answer 200 on every node', async () => {
    for (const n of c.nodes) {
      assert.deepEqual(await get(n, '/livez'), { status: 200, body: 'ok\n' }, n.tail());
      const ready = await waitUntil(`${n.name} to be ready`, 15_000, async () => {
        const r = await get(n, '/readyz?verbose');
        return r.status === 200 ? r : undefined;
      });
      assert.match(
        ready.body,
        /\[\+\]metadata-leader ok\n\[\+\]shard-leaders ok\n\[\+\]caught-up ok\nreadyz check passed/,
      );
    }
  });

  test('a node cut off from the others turns /readyz 503, naming the failed check, and back to 200', async () => {
    const [node1, node2, node3] = c.nodes as [ProcessNode, ProcessNode, ProcessNode];
    node2.pause();
    node3.pause();
    try {
      // Its leaderships end after an election timeout without a quorum (CheckQuorum), and it no
      // longer hears the others' leaders: every group it holds is leaderless within seconds.
      const notReady = await waitUntil('node1 /readyz to turn 503', 20_000, async () => {
        const r = await get(node1, '/readyz?verbose');
        return r.status === 503 ? r : undefined;
      });
      assert.match(notReady.body, /\[-\](metadata-leader|shard-leaders) failed: no leader/);
      assert.match(notReady.body, /readyz check failed\n$/);
      const brief = await get(node1, '/readyz');
      assert.equal(brief.status, 503);
      assert.doesNotMatch(brief.body, /\[\+\]/, 'without ?verbose only the failed checks are listed');
      // Alive all the same: the process and its event loop answer.
      assert.equal((await get(node1, '/livez')).status, 200);
    } finally {
      node2.resume();
      node3.resume();
    }
    for (const n of c.nodes) {
      await waitUntil(`${n.name} /readyz to be 200 again`, 30_000, async () =>
        (await get(n, '/readyz')).status === 200 ? true : undefined,
      );
    }
  });
});
