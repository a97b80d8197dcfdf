// How `ringkv cluster status` prints the cluster view (the view itself: src/client/cluster-view.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildClusterView,
  LEADER_PLACEMENTS,
  type ShardStatus,
  type StatusResponse,
} from '../../client/index.ts';
import { statusReport } from '../../client/testing/status-fixtures.ts';
import { LEADER_PLACEMENTS as NODE_LEADER_PLACEMENTS } from '../../node/metadata.ts';
import { renderView } from './cluster.ts';

const ids = ['n1', 'n2', 'n3'];
const members = ids.map((nodeId, i) => ({ nodeId, clientAddr: `h:${i + 1}`, raftAddr: `h:${i + 11}` }));

function shard(shardId: number, leader: string): ShardStatus {
  return {
    shardId,
    leader,
    voters: ids,
    learners: [],
    term: 3n,
    commit: 10n,
    applied: 9n,
    replicas: ids.map((nodeId) => ({ nodeId, role: 'voter', match: 10n, lag: 0n })),
    keys: 0n,
    bytes: 0n,
  };
}

function everyMember(leaders: readonly string[]): ReturnType<typeof buildClusterView> {
  const status = (nodeId: string): StatusResponse =>
    statusReport(nodeId, { members, shards: leaders.map((leader, id) => shard(id, leader)) });
  return buildClusterView(
    status('n1'),
    members.map((member) => ({ member, status: status(member.nodeId) })),
  );
}

test('a healthy cluster: the leaders are spread, and any one node may fail', () => {
  assert.match(
    renderView(everyMember(['n1', 'n2', 'n3'])),
    /leaders spread\n[\s\S]*the cluster can lose any one node and keep serving\n$/,
  );
});

test('no group has a leader: the header and the problems say so, not "leaders spread"', () => {
  const text = renderView(everyMember(['', '', '']));
  assert.match(text.split('\n')[0]!, /: 3 members, 2 shards, 3 of 3 groups without a leader$/);
  assert.doesNotMatch(text, /leaders spread/);
  assert.match(text, /^problem: 3 of 3 groups have no leader \(the metadata group, shards 1-2\)/m);
});

test("the client's leader placements are the node's", () => {
  assert.deepEqual([...LEADER_PLACEMENTS], [...NODE_LEADER_PLACEMENTS]);
});
