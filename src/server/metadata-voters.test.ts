// The metadata group keeps at most 5 voters (src/node/metadata-voters.ts): 7 in-process nodes join
// one after another; the 6th and 7th become its learners. A voter stopped past the dead-node timeout
// is marked down, a learner is promoted in its place and the down voter demoted; started again, it
// catches up as a learner. Reads and writes go through every node all along.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { METADATA_GROUP } from '../node/ids.ts';
import { TestCluster, valueWithin } from './testing/harness.ts';

const IDS = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
const DEAD_NODE_TIMEOUT_MS = 2_000;

describe('the metadata group keeps at most 5 voters', { timeout: 180_000 }, () => {
  const c = new TestCluster();
  const extra = { shardCount: 2, deadNodeTimeoutMs: DEAD_NODE_TIMEOUT_MS, rebalanceIntervalMs: 200 };

  /** The metadata group's configuration as `id` applied it. */
  const metaConf = (id: string) => {
    const cs = c.node(id).node.status(METADATA_GROUP)?.confState;
    const names = (l: readonly string[] | undefined): string[] => [...(l ?? [])].sort();
    return { voters: names(cs?.voters), learners: names(cs?.learners) };
  };

  before(async () => {
    await c.init();
    await c.start({ nodeId: 'n1', bootstrap: true, extra });
    for (const id of IDS.slice(1)) {
      await c.start({ nodeId: id, joinAddr: c.addr('n1'), extra });
      await valueWithin(`${id} to be up in the table`, 30_000, () =>
        c.node('n1').node.metadata.memberState(id) === 'up' ? true : undefined,
      );
    }
  });

  after(async () => {
    await c.stopAll();
  });

  test('7 members: the first 5 vote, the 6th and 7th are learners; every node serves', async () => {
    await valueWithin('the metadata configuration on n1', 10_000, () => {
      const m = metaConf('n1');
      return m.voters.length === 5 && m.learners.length === 2 ? m : undefined;
    });
    assert.deepEqual(metaConf('n1'), { voters: IDS.slice(0, 5), learners: ['n6', 'n7'] });
    // The learners hold the table as the voters do.
    await valueWithin('n7 to apply the whole table', 10_000, () =>
      IDS.every((id) => c.node('n7').node.metadata.memberState(id) === 'up') ? true : undefined,
    );
    // The rebalancer places the shards' replicas on the 7 members; a put waiting on a replica the
    // moves take away is answered "may have been applied", so the writes wait for it to settle: no
    // move in flight, every shard at 3 voters, and the table unchanged for a second.
    let last = '';
    let sinceMs = Date.now();
    await valueWithin('the shard table to settle', 60_000, () => {
      const t = c.node('n1').node.metadata.table;
      const now = JSON.stringify(t.shards.map((s) => [s.epoch, s.move === null, s.voters.length]));
      if (now !== last) {
        last = now;
        sinceMs = Date.now();
      }
      const placed = t.shards.every(
        (s) => s.move === null && s.voters.length === 3 && s.learners.length === 0,
      );
      return placed && Date.now() - sinceMs >= 1000 ? true : undefined;
    });
    for (const id of IDS) {
      const client = c.client(id);
      await client.put(`via-${id}`, id);
      assert.equal(Buffer.from((await client.get(`via-${id}`)).value).toString(), id);
    }
    assert.deepEqual(c.fatalErrors, []);
  });

  test('a voter down past the timeout: a learner takes its vote; back, it is a learner', async () => {
    const leader = c.node('n1').node.status(METADATA_GROUP)?.leader;
    const victim = IDS.slice(0, 5).find((id) => id !== leader && id !== 'n1')!;
    await c.stop(victim);
    const after = await valueWithin(`${victim} demoted and a learner promoted`, 60_000, () => {
      const m = metaConf('n1');
      return m.voters.length === 5 && !m.voters.includes(victim) && m.learners.includes(victim)
        ? m
        : undefined;
    });
    assert.ok(
      after.voters.includes('n6') || after.voters.includes('n7'),
      `a learner was promoted: ${JSON.stringify(after)}`,
    );
    assert.equal(c.node('n1').node.metadata.memberState(victim), 'down');
    await c.start({ nodeId: victim, extra });
    // Marked up, and the node back has applied that table itself (before, it replays an older one).
    await valueWithin(`${victim} marked up again, as it knows itself`, 30_000, () =>
      c.node('n1').node.metadata.memberState(victim) === 'up' &&
      c.node(victim).node.metadata.memberState(victim) === 'up'
        ? true
        : undefined,
    );
    // Five voters all up: nothing more to change, and the one back stays a learner.
    assert.deepEqual(metaConf('n1').voters.length, 5);
    assert.ok(metaConf('n1').learners.includes(victim));
    const client = c.client(victim);
    // Its shards may still be electing after the restart: that refusal is retry-safe, so retry it
    // (bounded), as a client would.
    for (let attempt = 0; ; attempt++) {
      const ok = await client.put('after-return', 'yes').then(
        () => true,
        (e: unknown) => {
          if (attempt >= 20 || !/UNAVAILABLE/.test(String(e))) throw e;
          return false;
        },
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(Buffer.from((await client.get('after-return')).value).toString(), 'yes');
    assert.deepEqual(c.fatalErrors, []);
  });
});
