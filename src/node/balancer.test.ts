// The balancer's decisions on a fake host: which shard leaderships it hands to whom, per placement.
// (The moves themselves, over real gRPC, are in src/server/placement.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfState, NodeId } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { Balancer, type BalancerHost } from './balancer.ts';
import { type GroupId, groupId, METADATA_GROUP } from './ids.ts';
import type { GroupStatus, ReplicaProgress } from './intents.ts';
import { ManualClock } from './manual-clock.ts';
import type { LeaderPlacement, MemberInfo } from './metadata.ts';

const IDS = ['n1', 'n2', 'n3'].map(nodeId);
const LAST_INDEX = index(10);

/**
 * A node `self` hosting the metadata group (unless `metadataLeader` is undefined) and shards
 * 1..leaders.length, led as given ('' for none), every replica caught up. It records the transfers
 * asked for, per group.
 */
class FakeHost implements BalancerHost {
  readonly id: NodeId;
  readonly isClosing = false;
  readonly logger = { info: () => {}, error: () => {} };
  readonly clock = new ManualClock();
  readonly metadata: { readonly leaderPlacement: LeaderPlacement; members(): readonly MemberInfo[] };
  readonly transfers = new Map<GroupId, NodeId[]>();
  private readonly groups: GroupStatus[] = [];

  constructor(self: string, placement: LeaderPlacement, leaders: string[], metadataLeader?: string) {
    this.id = nodeId(self);
    this.metadata = {
      leaderPlacement: placement,
      members: () => IDS.map((id) => ({ nodeId: id, clientAddr: '', raftAddr: '' })),
    };
    if (metadataLeader !== undefined) this.add(METADATA_GROUP, metadataLeader);
    leaders.forEach((l, i) => {
      this.add(groupId(i + 1), l);
    });
  }

  private add(id: GroupId, leader: string): void {
    const isLeader = leader === this.id;
    const confState: ConfState = {
      voters: IDS,
      votersOutgoing: [],
      learners: [],
      learnersNext: [],
      autoLeave: false,
    };
    const caughtUp: ReplicaProgress = { match: LAST_INDEX, state: 'replicate', recentActive: true };
    this.groups.push({
      id,
      self: this.id,
      role: isLeader ? 'leader' : 'follower',
      leader: nodeId(leader),
      leaderHeard: true,
      term: term(1),
      commit: LAST_INDEX,
      applied: LAST_INDEX,
      lastIndex: LAST_INDEX,
      pendingConfIndex: index(0),
      confState,
      progress: isLeader ? new Map(IDS.map((i) => [i, caughtUp])) : undefined,
      keys: 0,
      bytes: 0,
    });
    this.transfers.set(id, []);
  }

  statuses(): GroupStatus[] {
    return [...this.groups];
  }

  transferLeadership(group: GroupId, to: NodeId): void {
    const asked = this.transfers.get(group);
    if (asked === undefined) throw new Error(`the balancer moved group ${group}, which is not hosted`);
    asked.push(to);
  }
}

/** One round of a balancer over `host` (its timer never started). */
function round(host: FakeHost) {
  return new Balancer(host, 0).round();
}

test('pack: a node hands at most two of the shards it leads to the metadata leader per round', () => {
  const host = new FakeHost('n2', 'pack', ['n2', 'n2', 'n2', 'n1', 'n3'], 'n1');
  const moves = round(host);
  assert.deepEqual(moves, [
    { group: 1, from: 'n2', to: 'n1' },
    { group: 2, from: 'n2', to: 'n1' },
  ]);
  assert.deepEqual(host.transfers.get(groupId(1)), ['n1']);
  assert.deepEqual(host.transfers.get(groupId(3)), []);
});

test('pack: the metadata leader keeps its shards; a node without the metadata group moves nothing', () => {
  assert.deepEqual(round(new FakeHost('n1', 'pack', ['n1', 'n1', 'n2'], 'n1')), []);
  assert.deepEqual(round(new FakeHost('n2', 'pack', ['n2', 'n2'], undefined)), []);
  assert.deepEqual(round(new FakeHost('n2', 'pack', ['n2', 'n2'], '')), []);
});

test('spread: only the most loaded node gives, to the least loaded, until within one', () => {
  const busy = new FakeHost('n1', 'spread', ['n1', 'n1', 'n1', 'n1', 'n2', 'n2'], 'n1');
  assert.deepEqual(round(busy), [
    { group: 1, from: 'n1', to: 'n3' },
    { group: 2, from: 'n1', to: 'n3' },
  ]);
  const other = new FakeHost('n2', 'spread', ['n1', 'n1', 'n1', 'n1', 'n2', 'n2'], 'n1');
  assert.deepEqual(round(other), []);
  const even = new FakeHost('n1', 'spread', ['n1', 'n1', 'n2', 'n2', 'n3'], 'n1');
  assert.deepEqual(round(even), []);
});

test('no moves while a shard has no leader', () => {
  assert.deepEqual(round(new FakeHost('n2', 'pack', ['n2', ''], 'n1')), []);
});
