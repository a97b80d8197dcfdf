// The dashboard's status: the cluster view's members and problems (the same lines `cluster status`
// prints), joined with the shard table's replicas and moves and each member's rates; JSON-ready.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildClusterView,
  type MemberStatus,
  type ShardPlacement,
  type ShardStatus,
  type StatusResponse,
} from '../client/index.ts';
import type { LoadRates } from './load-rates.ts';
import { dashboardStatus, PROBLEMS_SHOWN_MAX } from './status.ts';

const ids = ['n1', 'n2', 'n3'];
const members = ids.map((nodeId, i) => ({
  nodeId,
  clientAddr: `h:${i + 1}`,
  raftAddr: `h:${i + 11}`,
  state: 'up',
}));

function shard(shardId: number, leader: string, lag = 0n): ShardStatus {
  return {
    shardId,
    leader,
    voters: ids,
    learners: [],
    term: 2n,
    commit: 40n,
    applied: 39n,
    replicas: ids.map((nodeId) => ({ nodeId, role: 'voter', match: 40n, lag: nodeId === 'n3' ? lag : 0n })),
    keys: shardId === 0 ? 0n : 7n,
    bytes: shardId === 0 ? 0n : 700n,
  };
}

const placement: ShardPlacement[] = [
  {
    shardId: 1,
    slotFirst: 0,
    slotLast: 511,
    voters: ids,
    learners: [],
    votersOutgoing: [],
    epoch: 3n,
    move: undefined,
  },
  {
    shardId: 2,
    slotFirst: 512,
    slotLast: 1023,
    voters: ['n1', 'n2'],
    learners: ['n3'],
    votersOutgoing: [],
    epoch: 5n,
    move: { source: '', target: 'n3', step: 'catchUp' },
  },
];

function status(nodeId: string, states = members): StatusResponse {
  return {
    nodeId,
    clusterId: 'c1',
    members: states,
    shards: [shard(0, 'n1'), shard(1, 'n1', 4n), shard(2, 'n2')],
    leaderPlacement: 'spread',
    alarms: [],
    placement,
    replicationFactor: 3,
    wantedMoves: [],
    settings: undefined,
  };
}

const rates: LoadRates = {
  requestsPerSecond: 12.5,
  failedPerSecond: 0,
  latencyP50Ms: 1.5,
  latencyP99Ms: 4,
  intervalMs: 1000,
};

describe('dashboardStatus', () => {
  it('members up with their rates; a member that did not answer is down, with the reason and no rates', () => {
    const ms: MemberStatus[] = [
      { member: members[0]!, status: status('n1') },
      { member: members[1]!, status: status('n2') },
      { member: members[2]!, error: new Error('connect ECONNREFUSED') },
    ];
    const s = dashboardStatus('n1', status('n1'), ms, new Map(ids.map((id) => [id, rates])), 1234);
    assert.deepEqual(
      s.members.map((m) => [m.nodeId, m.up, m.error, m.load?.requestsPerSecond ?? null, m.shardsLed]),
      [
        ['n1', true, null, 12.5, 1],
        ['n2', true, null, 12.5, 1],
        ['n3', false, 'connect ECONNREFUSED', null, 0],
      ],
    );
    // The problems are the cluster view's, line for line.
    assert.deepEqual(s.problems, buildClusterView(status('n1'), ms).problems);
    assert.match(s.problems.join('\n'), /n3 \(h:3\) did not answer: connect ECONNREFUSED/);
    assert.deepEqual([s.servedBy, s.clusterId, s.sampledAtMs, s.shardCount], ['n1', 'c1', 1234, 2]);
  });

  it("shards carry the table's replicas, slots and move, and the leader's numbers; moves are listed", () => {
    const ms: MemberStatus[] = members.map((member) => ({ member, status: status(member.nodeId) }));
    const s = dashboardStatus('n2', status('n2'), ms, new Map(), 0);
    const [meta, s1, s2] = s.shards;
    assert.deepEqual([meta?.shardId, meta?.slotFirst, meta?.move], [0, -1, null]);
    assert.deepEqual([s1?.leader, s1?.lagMax, s1?.keys, s1?.slotLast, s1?.commit], ['n1', 4, 7, 511, 40]);
    assert.deepEqual(
      [s2?.voters, s2?.learners, s2?.move],
      [['n1', 'n2'], ['n3'], { shardId: 2, source: '', target: 'n3', step: 'catchUp' }],
    );
    assert.deepEqual(s.moves, [{ shardId: 2, source: '', target: 'n3', step: 'catchUp' }]);
    // JSON-ready: no bigint anywhere (JSON.stringify would throw on one).
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  });

  it('a member the table marks down is shown with that state; problems past the bound are counted', () => {
    const states = members.map((m) => (m.nodeId === 'n3' ? { ...m, state: 'down' } : m));
    const ms: MemberStatus[] = members.map((member) => ({ member, status: status(member.nodeId, states) }));
    const s = dashboardStatus('n1', status('n1', states), ms, new Map(), 0);
    assert.equal(s.members[2]?.state, 'down');
    const alarms = Array.from({ length: PROBLEMS_SHOWN_MAX + 5 }, (_, i) => `A${i}`);
    const noisy: MemberStatus[] = ms.map((m) =>
      'status' in m ? { ...m, status: { ...m.status, alarms } } : m,
    );
    const many = dashboardStatus('n1', status('n1'), noisy, new Map(), 0);
    assert.equal(many.problems.length, PROBLEMS_SHOWN_MAX);
    assert.match(many.problems.at(-1) ?? '', /^and \d+ more \(ringkv cluster status lists them all\)$/);
  });
});
