// R = 1: every shard has a single voter, which also leads it, so a move cannot hand the leadership
// away before the joint configuration (there is nobody to hand it to). A second node joins and takes
// its share; every move ends (no rollback), and every key written before reads back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestCluster, valueWithin } from './testing/harness.ts';

describe('R = 1: a shard led by its only voter moves to a joiner', { timeout: 120_000 }, () => {
  const c = new TestCluster();
  const extra = { shardCount: 4, replicationFactor: 1, rebalanceIntervalMs: 200 };

  before(async () => {
    await c.init();
    await c.start({ nodeId: 'n1', bootstrap: true, extra });
  });

  after(async () => {
    await c.stopAll();
  });

  test('n2 joins: half the shards move to it, each move ends, nothing is lost', async () => {
    const one = c.client('n1');
    for (let i = 0; i < 40; i++) await one.put(`k${i}`, `v${i}`);
    await c.start({ nodeId: 'n2', joinAddr: c.addr('n1'), extra });
    const table = await valueWithin('every shard on one voter, two of them on n2, no move', 60_000, () => {
      const t = c.node('n1').node.metadata.table;
      const settled =
        t.shards.every((s) => s.move === null && s.voters.length === 1 && s.learners.length === 0) &&
        t.shards.filter((s) => s.voters[0] === 'n2').length === 2;
      return settled ? t : undefined;
    });
    assert.equal(
      table.shards.reduce((n, s) => n + s.moveFailures, 0),
      0,
      'no move rolled back',
    );
    for (const id of ['n1', 'n2']) {
      const cl = c.client(id);
      for (let i = 0; i < 40; i++)
        assert.equal(Buffer.from((await cl.get(`k${i}`)).value).toString(), `v${i}`);
    }
    assert.deepEqual(c.fatalErrors, []);
  });
});
