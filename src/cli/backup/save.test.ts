import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StatusResponse } from '../../client/index.ts';
import { shardSources } from './save.ts';

test("each shard is read from its voters' client ports, its leader first, in shard order", () => {
  const member = (nodeId: string, clientAddr: string) => ({ nodeId, clientAddr, raftAddr: '' });
  const placement = (shardId: number, voters: string[]) => ({
    shardId,
    slotFirst: (shardId - 1) * 2048,
    slotLast: shardId * 2048 - 1,
    voters,
    learners: [],
    votersOutgoing: [],
    epoch: 1n,
  });
  const st = {
    members: [member('a', 'h:1'), member('b', 'h:2'), member('c', '')],
    shards: [
      { shardId: 1, leader: 'b' },
      { shardId: 2, leader: '' },
    ],
    placement: [placement(2, ['a', 'b', 'c']), placement(1, ['a', 'b', 'c', 'gone'])],
  } as unknown as StatusResponse;
  assert.deepEqual(shardSources(st), [
    { shard: 1, slotFirst: 0, slotLast: 2047, addrs: ['h:2', 'h:1'] },
    { shard: 2, slotFirst: 2048, slotLast: 4095, addrs: ['h:1', 'h:2'] },
  ]);
});
