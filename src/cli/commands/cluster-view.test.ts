import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MemberStatus, ShardStatus, StatusResponse } from '../../client/index.ts';
import { bestShardReports, buildClusterView } from './cluster-view.ts';

const ids = ['n1', 'n2', 'n3'];
const members = ids.map((nodeId, i) => ({ nodeId, clientAddr: `h:${i + 1}`, raftAddr: `h:${i + 11}` }));

function shard(shardId: number, leader: string, term: bigint, lagOfN3 = 0n): ShardStatus {
  return {
    shardId,
    leader,
    voters: ids,
    learners: [],
    term,
    commit: 10n,
    applied: 9n,
    replicas: ids.map((nodeId) => ({
      nodeId,
      role: 'voter',
      match: 10n,
      lag: nodeId === 'n3' ? lagOfN3 : 0n,
    })),
  };
}

function status(nodeId: string, shards: ShardStatus[]): StatusResponse {
  return { nodeId, clusterId: 'c', members, shards, leaderPlacement: 'spread' };
}

test('the leader report of a group wins over a stale follower report', () => {
  const stale = status('n2', [shard(1, 'n3', 1n)]);
  const fromLeader = status('n1', [shard(1, 'n1', 2n, 7n)]);
  assert.equal(bestShardReports([stale, fromLeader])[0]?.leader, 'n1');
  assert.equal(bestShardReports([fromLeader, stale])[0]?.leader, 'n1');
});

test('cluster view: shards led, lag from the leaders, an unreachable member and a leaderless shard', () => {
  const s1 = status('n1', [shard(0, 'n1', 3n), shard(1, 'n1', 3n, 5n), shard(2, '', 4n)]);
  const s2 = status('n2', [shard(0, 'n1', 3n), shard(1, 'n1', 3n), shard(2, '', 4n)]);
  const ms: MemberStatus[] = [
    { member: members[0]!, status: s1 },
    { member: members[1]!, status: s2 },
    { member: members[2]!, error: new Error('cannot reach any of h:3') },
  ];
  const view = buildClusterView(s1, ms);
  assert.equal(view.shardCount, 2);
  assert.deepEqual(
    view.nodes.map((n) => [n.nodeId, n.shardsLed, n.reachable, n.lag]),
    [
      ['n1', 1, true, 0n],
      ['n2', 0, true, 0n],
      ['n3', 0, false, 5n],
    ],
  );
  assert.equal(view.nodes[0]?.commit, 30n);
  assert.equal(view.nodes[0]?.term, 4n);
  assert.deepEqual(view.problems, [
    'shard 2 has no leader',
    'n3 (h:3) did not answer: cannot reach any of h:3',
  ]);
});

test('cluster view: the leader placement comes from any member that knows it', () => {
  const joining = { ...status('n3', [shard(0, '', 1n)]), leaderPlacement: '' };
  const knows = { ...status('n1', [shard(0, 'n1', 3n)]), leaderPlacement: 'pack' };
  const ms: MemberStatus[] = [
    { member: members[0]!, status: knows },
    { member: members[2]!, status: joining },
  ];
  assert.equal(buildClusterView(joining, ms).leaderPlacement, 'pack');
  assert.equal(buildClusterView(joining, [{ member: members[2]!, status: joining }]).leaderPlacement, '');
});
