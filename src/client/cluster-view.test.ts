import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MemberStatus } from './client.ts';
// The view `ringkv cluster status` prints and the dashboard shows (how it is printed:
// src/cli/commands/cluster.test.ts).
import {
  bestShardReports,
  buildClusterView,
  faultTolerance,
  groupList,
  leaveRefusal,
} from './cluster-view.ts';
import type { ShardStatus, StatusResponse } from './index.ts';
import { placementOf } from './testing/status-fixtures.ts';

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
    keys: 0n,
    bytes: 0n,
  };
}

function status(nodeId: string, shards: ShardStatus[]): StatusResponse {
  return {
    nodeId,
    clusterId: 'c',
    members,
    shards,
    leaderPlacement: 'spread',
    alarms: [],
    placement: [],
    replicationFactor: 3,
    wantedMoves: [],
    settings: undefined,
  };
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
    '1 of 3 groups have no leader (shard 2): their writes and linearizable reads fail until a majority ' +
      'of their voters can reach each other',
    'n3 (h:3) did not answer: cannot reach any of h:3',
    'warning: the cluster cannot survive another failure: n3 is unreachable, and every group has 2 of 3 ' +
      'voters up where 2 are needed; bring it back (restart it with its original command line)',
  ]);
  assert.equal(view.groupsWithoutLeader, 1);
  assert.equal(view.failuresTolerated, 0);
});

const answering = (st: (nodeId: string) => StatusResponse, of = members): MemberStatus[] =>
  of.map((member) => ({ member, status: st(member.nodeId) }));

test('cluster view: healthy when every group has a leader and any one node may fail', () => {
  const st = (id: string) => status(id, [shard(0, 'n1', 3n), shard(1, 'n2', 3n), shard(2, 'n3', 3n)]);
  const view = buildClusterView(st('n1'), answering(st));
  assert.deepEqual(view.problems, []);
  assert.deepEqual([view.groupsWithoutLeader, view.failuresTolerated], [0, 1]);
  assert.equal(view.leaderPlacement, 'spread');
});

test('cluster view: no group has a leader: the header and the problems say so, not "leaders spread"', () => {
  const st = (id: string) => status(id, [shard(0, '', 5n), shard(1, '', 5n), shard(2, '', 5n)]);
  const view = buildClusterView(st('n1'), answering(st));
  assert.equal(view.groupsWithoutLeader, 3);
  assert.match(view.problems[0] ?? '', /^3 of 3 groups have no leader \(the metadata group, shards 1-2\)/);
});

test('cluster view: a single voter cannot survive any failure; five voters with one down survive one more', () => {
  const one = [members[0]!];
  const solo = (id: string): StatusResponse => ({
    ...status(id, [{ ...shard(0, 'n1', 1n), voters: ['n1'] }]),
    members: one,
  });
  const single = buildClusterView(solo('n1'), answering(solo, one));
  assert.deepEqual(single.problems, [
    'warning: the cluster cannot survive the failure of any node: a group of 1 voter needs 1 of them; ' +
      'add nodes (3 voters survive one failure, 5 survive two)',
  ]);
  const five = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const fiveMembers = five.map((nodeId, i) => ({
    nodeId,
    clientAddr: `h:${i + 1}`,
    raftAddr: `h:${i + 11}`,
  }));
  const big = (id: string): StatusResponse => ({
    ...status(id, [{ ...shard(0, 'n1', 1n), voters: five }]),
    members: fiveMembers,
  });
  const ms: MemberStatus[] = [
    ...answering(big, fiveMembers.slice(0, 4)),
    { member: fiveMembers[4]!, error: new Error('no connection within 1000 ms') },
  ];
  const view = buildClusterView(big('n1'), ms);
  assert.deepEqual(view.problems, ['n5 (h:5) did not answer: no connection within 1000 ms']);
  assert.equal(view.failuresTolerated, 1);
});

test('faultTolerance and groupList', () => {
  const g = (voters: string[]) => ({ ...shard(1, 'n1', 1n), voters });
  assert.equal(faultTolerance([g(['a', 'b', 'c'])], new Set(['a', 'b', 'c'])), 1);
  assert.equal(faultTolerance([g(['a', 'b', 'c']), g(['a', 'b'])], new Set(['a', 'b', 'c'])), 0);
  assert.equal(faultTolerance([g(['a', 'b', 'c'])], new Set(['a'])), -1);
  assert.equal(groupList([0, 1, 2, 3, 5, 7, 8]), 'the metadata group, shards 1-3, 5, 7-8');
  assert.equal(groupList([4]), 'shard 4');
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

test('leaveRefusal: the last member, and the only voter of a group; otherwise no objection', () => {
  const one = [members[0]!, members[1]!];
  const learnerToo = (id: string): StatusResponse => ({
    ...status(
      id,
      [0, 1, 2].map((g) => ({ ...shard(g, 'n1', 1n), voters: ['n1'], learners: ['n2'] })),
    ),
    members: one,
  });
  const view = buildClusterView(learnerToo('n1'), answering(learnerToo, one));
  assert.match(
    leaveRefusal(view, 'n1') ?? '',
    /^n1 is the only voter of the metadata group, shards 1-2: .*Add a node first/,
  );
  assert.equal(leaveRefusal(view, 'n2'), undefined);
  const solo = (id: string): StatusResponse => ({
    ...status(id, [{ ...shard(0, 'n1', 1n), voters: ['n1'] }]),
    members: [members[0]!],
  });
  const last = buildClusterView(solo('n1'), answering(solo, [members[0]!]));
  assert.match(leaveRefusal(last, 'n1') ?? '', /^n1 is the last member of the cluster/);
  const st = (id: string) => status(id, [shard(0, 'n1', 3n), shard(1, 'n2', 3n)]);
  assert.equal(leaveRefusal(buildClusterView(st('n1'), answering(st)), 'n1'), undefined);
});

test('an alarm on a node is a problem, named with the node', () => {
  const st = { ...status('n1', [shard(1, 'n1', 1n)]), alarms: ['NOSPACE'] };
  const view = buildClusterView(st, [{ member: members[0]!, status: st }]);
  assert.ok(
    view.problems.some((p) => p.startsWith('n1 has the NOSPACE alarm')),
    view.problems.join('\n'),
  );
});

test('a member the table has down or draining is a problem (down) or a warning (draining), named', () => {
  const st = {
    ...status('n1', [shard(1, 'n1', 1n)]),
    members: [
      { ...members[0]!, state: 'up' },
      { ...members[1]!, state: 'down' },
      { ...members[2]!, state: 'draining' },
    ],
  };
  const view = buildClusterView(st, [{ member: members[0]!, status: st }]);
  assert.ok(
    view.problems.some((p) =>
      p.startsWith('n2 is down: not heard from for longer than the dead-node timeout'),
    ),
    view.problems.join('\n'),
  );
  assert.ok(view.problems.includes('warning: n3 is draining: it is leaving, its replicas move away'));
  assert.ok(!view.problems.some((p) => p.startsWith('n1 is')), view.problems.join('\n'));
});

test('cluster view: with a shard table, a member is a voter when it votes in the shards placed on it', () => {
  // Shard 1 on n1, n2; shard 2 on n2, n3: n1 is no replica of shard 2, and that is no problem.
  const g = (shardId: number, voters: string[]): ShardStatus => ({
    ...shard(shardId, voters[0]!, 1n),
    voters,
  });
  const shards = [g(0, ids), g(1, ['n1', 'n2']), g(2, ['n2', 'n3'])];
  const placed = (shardId: number, voters: string[]) => placementOf(shardId, voters);
  const table = [placed(1, ['n1', 'n2']), placed(2, ['n2', 'n3'])];
  const withTable = { ...status('n1', shards), placement: table };
  const answered = (st: StatusResponse): MemberStatus[] => members.map((member) => ({ member, status: st }));
  const view = buildClusterView(withTable, answered(withTable));
  assert.deepEqual(
    view.nodes.map((n) => n.role),
    ['voter', 'voter', 'voter'],
  );
  // Without a table every group counts: the same cluster lists n1 and n3 as partial voters.
  const without = status('n1', shards);
  assert.deepEqual(
    buildClusterView(without, answered(without)).nodes.map((n) => n.role),
    ['voter in 2 of 3 groups', 'voter', 'voter in 2 of 3 groups'],
  );
  // A member placed on a shard it does not vote in yet is not a voter.
  const behind = { ...withTable, placement: [placed(1, ['n1', 'n2', 'n3']), placed(2, ['n2', 'n3'])] };
  assert.equal(buildClusterView(behind, answered(behind)).nodes[2]?.role, 'voter in 2 of 3 groups');
});

test('a learner of a full metadata group is no problem; a learner of one with room is', () => {
  const seven = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
  const all = seven.map((nodeId, i) => ({
    nodeId,
    clientAddr: `h:${i + 1}`,
    raftAddr: `h:${i + 11}`,
    state: 'up',
  }));
  const meta = (voters: string[], learners: string[]): ShardStatus => ({
    ...shard(0, 'n1', 2n),
    voters,
    learners,
    replicas: [],
  });
  const view = (g: ShardStatus) => {
    const st = { ...status('n1', [g]), members: all };
    return buildClusterView(
      st,
      all.map((m) => ({ member: m, status: { ...st, nodeId: m.nodeId } })),
    );
  };
  const full = view(meta(seven.slice(0, 5), ['n6', 'n7']));
  assert.deepEqual(
    full.nodes.map((n) => n.role),
    ['voter', 'voter', 'voter', 'voter', 'voter', 'metadata learner', 'metadata learner'],
  );
  assert.deepEqual(full.problems, []);
  const room = view(meta(seven.slice(0, 4), ['n5', 'n6', 'n7']));
  assert.deepEqual(room.problems, ['n5 is learner', 'n6 is learner', 'n7 is learner']);
});
