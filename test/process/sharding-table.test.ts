// The arithmetic of the sharding scenario over two small tables, by hand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { heldBy, maxOverMean, replicaChanges, replicasPerNode, type Table } from './sharding-table.ts';

const row = (shardId: number, voters: string[]) => ({ shardId, voters, learners: [], epoch: 1 });
const before: Table = [row(1, ['a', 'b', 'c']), row(2, ['a', 'b', 'c'])];
const after: Table = [row(1, ['a', 'b', 'd']), row(2, ['a', 'c', 'd'])];

test('replicas moved are the (shard, node) pairs added; the removed ones are listed too', () => {
  assert.deepEqual(replicaChanges(before, after), { added: ['1@d', '2@d'], removed: ['1@c', '2@b'] });
  assert.deepEqual(replicaChanges(after, after), { added: [], removed: [] });
  assert.equal(heldBy(after, 'd'), 2);
  assert.equal(heldBy(after, 'e'), 0);
});

test('replicas per node list every node; max/mean is 1 when even', () => {
  const per = replicasPerNode(after, ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(
    [...per],
    [
      ['a', 2],
      ['b', 1],
      ['c', 1],
      ['d', 2],
      ['e', 0],
    ],
  );
  assert.equal(maxOverMean(per), 2 / (6 / 5));
  assert.equal(maxOverMean(replicasPerNode(before, ['a', 'b', 'c'])), 1);
  assert.throws(() => replicasPerNode(after, ['a', 'b']), /shard 1 has voter d, not one of a,b/);
});
