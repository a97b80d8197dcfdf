import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ShardStatus, StatusResponse } from '../../client/index.ts';
import { groupReport, placementOf, statusReport } from '../../client/testing/status-fixtures.ts';
import { unsettledReason } from './settled.ts';

const MEMBERS = ['node1', 'node2', 'node3', 'node4'];
// R = 3 of N = 4: shard 1 on node1-3, shard 2 on node2-4.
const TABLE: Record<number, string[]> = { 1: ['node1', 'node2', 'node3'], 2: ['node2', 'node3', 'node4'] };

const placement = placementOf;
const group = (shardId: number, voters: string[], leader = voters[0]!): ShardStatus =>
  groupReport(shardId, voters, leader);

/** What `name` answers in a settled cluster (each field can be overridden). */
function statusOf(name: string, over: Partial<StatusResponse> = {}): StatusResponse {
  const hosted = Object.entries(TABLE).filter(([, v]) => v.includes(name));
  return statusReport(name, {
    members: MEMBERS.map((m) => ({ nodeId: m, clientAddr: '', raftAddr: '', state: 'up' })),
    shards: [group(0, MEMBERS), ...hosted.map(([id, v]) => group(Number(id), v))],
    placement: Object.entries(TABLE).map(([id, v]) => placement(Number(id), v)),
    ...over,
  });
}

function all(over: Record<string, Partial<StatusResponse>> = {}): Map<string, StatusResponse> {
  return new Map(MEMBERS.map((m) => [m, statusOf(m, over[m])]));
}

describe('chaos: when the cluster has settled', () => {
  test('R of N: each member hosts what the table places on it, every group led', () => {
    assert.equal(unsettledReason(MEMBERS, all()), undefined);
  });

  test('a member that does not answer, or does not know the cluster', () => {
    const m = all();
    m.delete('node3');
    assert.match(unsettledReason(MEMBERS, m) ?? '', /node3 does not answer/);
    assert.match(unsettledReason(MEMBERS, all({ node2: { placement: [] } })) ?? '', /node2 does not know/);
  });

  test('a move in flight, a learner, or too few voters in the table', () => {
    const moving = [placement(1, TABLE[1]!, { move: { source: 'node1', target: 'node4', step: 'catchUp' } })];
    assert.match(
      unsettledReason(MEMBERS, all({ node1: { placement: [...moving, placement(2, TABLE[2]!)] } })) ?? '',
      /shard 1 has a move in flight \(catchUp\)/,
    );
    const short = [placement(1, ['node1', 'node2']), placement(2, TABLE[2]!)];
    assert.match(unsettledReason(MEMBERS, all({ node4: { placement: short } })) ?? '', /not 3 members/);
  });

  test('a member still joining (the planner places nothing on it yet), or draining', () => {
    const s = statusOf('node1');
    const joining = s.members.map((m) => (m.nodeId === 'node4' ? { ...m, state: 'joining' } : m));
    assert.match(
      unsettledReason(MEMBERS, all({ node1: { members: joining } })) ?? '',
      /node1 sees node4 joining/,
    );
    const draining = s.members.map((m) => (m.nodeId === 'node2' ? { ...m, state: 'draining' } : m));
    assert.match(
      unsettledReason(MEMBERS, all({ node3: { members: draining } })) ?? '',
      /sees node2 draining/,
    );
  });

  test('a table the rebalancer still wants to change (a joiner without its share yet)', () => {
    const wanted = {
      shardId: 1,
      source: 'node1',
      target: 'node4',
      reason: 'balance',
      detail: '',
      deferred: '',
    };
    assert.match(
      unsettledReason(MEMBERS, all({ node2: { wantedMoves: [wanted, { ...wanted, shardId: 2 }] } })) ?? '',
      /wants 2 more move/,
    );
  });

  test('members that applied different tables', () => {
    const other = [placement(1, ['node1', 'node2', 'node4']), placement(2, TABLE[2]!)];
    assert.match(unsettledReason(MEMBERS, all({ node4: { placement: other } })) ?? '', /another shard table/);
  });

  test('a member that does not host its shard yet, or still hosts one moved away', () => {
    const s1 = statusOf('node1');
    assert.match(
      unsettledReason(MEMBERS, all({ node1: { shards: s1.shards.filter((g) => g.shardId !== 1) } })) ?? '',
      /node1 does not host shard 1/,
    );
    assert.match(
      unsettledReason(MEMBERS, all({ node1: { shards: [...s1.shards, group(2, TABLE[2]!)] } })) ?? '',
      /node1 still hosts shard 2/,
    );
  });

  test('a group without a leader, or whose voters are not the table', () => {
    const s4 = statusOf('node4');
    const leaderless = s4.shards.map((g) => (g.shardId === 2 ? group(2, TABLE[2]!, '') : g));
    assert.match(
      unsettledReason(MEMBERS, all({ node4: { shards: leaderless } })) ?? '',
      /group 2 has no leader/,
    );
    const wide = s4.shards.map((g) => (g.shardId === 2 ? group(2, MEMBERS, 'node2') : g));
    assert.match(unsettledReason(MEMBERS, all({ node4: { shards: wide } })) ?? '', /group 2 has voters/);
    const metaShort = s4.shards.map((g) => (g.shardId === 0 ? group(0, ['node1', 'node2', 'node3']) : g));
    assert.match(
      unsettledReason(MEMBERS, all({ node4: { shards: metaShort } })) ?? '',
      /the metadata group has voters node1,node2,node3 and learners none, not 4 voters/,
    );
    // A learner of the metadata group is settled only when it already has 5 voters.
    const metaLearner = s4.shards.map((g) =>
      g.shardId === 0 ? { ...group(0, ['node1', 'node2', 'node3']), learners: ['node4'] } : g,
    );
    assert.match(
      unsettledReason(MEMBERS, all({ node4: { shards: metaLearner } })) ?? '',
      /not 4 voters of node1,node2,node3,node4/,
    );
  });

  test('more than 5 members: the metadata group has 5 voters, the others its learners', () => {
    const seven = ['node1', 'node2', 'node3', 'node4', 'node5', 'node6', 'node7'];
    const statuses = (metaVoters: string[], metaLearners: string[]) =>
      new Map(
        seven.map((name) => {
          const meta = { ...group(0, metaVoters), learners: metaLearners };
          const one = ['node1', 'node2', 'node3'];
          const s: StatusResponse = {
            ...statusOf(name),
            members: seven.map((m) => ({ nodeId: m, clientAddr: '', raftAddr: '', state: 'up' })),
            shards: one.includes(name) ? [meta, group(1, one)] : [meta],
            placement: [placement(1, one)],
          };
          return [name, s];
        }),
      );
    // One shard, on node1-3 (R = 3).
    const reason = (v: string[], l: string[]) => unsettledReason(seven, statuses(v, l)) ?? '';
    assert.equal(reason(seven.slice(0, 5), ['node6', 'node7']), '');
    assert.match(reason(seven.slice(0, 4), ['node5', 'node6', 'node7']), /not 5 voters/);
    assert.match(reason(seven.slice(0, 5), ['node6']), /not 5 voters of node1/);
  });
});
