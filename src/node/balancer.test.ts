// The balancer's decisions on a fake host: which shard leaderships it hands to whom, per placement.
// (The moves themselves, over real gRPC, are in src/server/placement.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfState, NodeId } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import type { ShardEntry, ShardTable } from '../ring/shard-table.ts';
import { Balancer, type BalancerHost, spreadLeaders } from './balancer.ts';
import { type GroupId, groupId, METADATA_GROUP } from './ids.ts';
import type { GroupStatus, ReplicaProgress } from './intents.ts';
import { ManualClock } from './manual-clock.ts';
import type { LeaderPlacement } from './metadata.ts';

const IDS = ['n1', 'n2', 'n3'].map(nodeId);
const LAST_INDEX = index(10);

/** A shard table of `voters.length` shards (shard i + 1 on voters[i]), every member up. */
function tableOf(members: readonly string[], voters: readonly (readonly string[])[]): ShardTable {
  const shards: ShardEntry[] = voters.map((v, i) => ({
    shardId: i + 1,
    slotFirst: i,
    slotLast: i,
    voters: [...v].sort(),
    votersOutgoing: [],
    learners: [],
    move: null,
    epoch: 1,
    moveFailures: 0,
    lastFailureAtMs: 0,
  }));
  return {
    lastOp: 1,
    settings: {
      shardCount: shards.length,
      replicationFactor: 3,
      deadNodeTimeoutMs: 60_000,
      movesInFlightMax: 2,
    },
    members: members.map((m) => ({
      nodeId: m,
      zone: '',
      clientAddr: '',
      raftAddr: '',
      state: 'up' as const,
    })),
    shards,
  };
}

/**
 * A node `self` hosting the metadata group (unless `metadataLeader` is undefined) and shards
 * 1..leaders.length, led as given ('' for none), every replica caught up. Unless `table` says
 * otherwise, every shard is on n1, n2 and n3 and self hosts them all; with a table, self hosts the
 * shards whose voters include it. It records the transfers asked for, per group.
 */
class FakeHost implements BalancerHost {
  readonly id: NodeId;
  readonly isClosing = false;
  readonly logger = { info: () => {}, error: () => {} };
  readonly clock = new ManualClock();
  readonly metadata: { readonly leaderPlacement: LeaderPlacement; table: ShardTable };
  readonly transfers = new Map<GroupId, NodeId[]>();
  private readonly groups: GroupStatus[] = [];

  constructor(
    self: string,
    placement: LeaderPlacement,
    leaders: string[],
    metadataLeader?: string,
    table = tableOf(
      IDS,
      leaders.map(() => IDS),
    ),
  ) {
    this.id = nodeId(self);
    this.metadata = { leaderPlacement: placement, table };
    if (metadataLeader !== undefined) this.add(METADATA_GROUP, metadataLeader, IDS);
    leaders.forEach((l, i) => {
      const voters = (table.shards[i]?.voters ?? IDS).map(nodeId);
      if (voters.includes(this.id)) this.add(groupId(i + 1), l, voters);
    });
  }

  private add(id: GroupId, leader: string, voters: readonly NodeId[]): void {
    const isLeader = leader === this.id;
    const confState: ConfState = {
      voters: [...voters],
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
      progress: isLeader ? new Map(voters.map((i) => [i, caughtUp])) : undefined,
      keys: 0,
      bytes: 0,
    });
    this.transfers.set(id, []);
  }

  /** The leaders of shards 1.. as this host sees them. */
  leaders(): string[] {
    return this.groups.filter((g) => g.id !== METADATA_GROUP).map((g) => g.leader);
  }

  /** Makes `to` the leader of `group` (a transfer done). */
  lead(group: GroupId, to: NodeId): void {
    const i = this.groups.findIndex((g) => g.id === group);
    const g = this.groups[i] as GroupStatus;
    const isLeader = to === this.id;
    const caughtUp: ReplicaProgress = { match: LAST_INDEX, state: 'replicate', recentActive: true };
    this.groups[i] = {
      ...g,
      leader: to,
      role: isLeader ? 'leader' : 'follower',
      progress: isLeader ? new Map(g.confState.voters.map((v) => [v, caughtUp])) : undefined,
    };
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

/**
 * One round of a balancer over `host` (its timer never started); under spread the second, as the
 * first only notes the table.
 */
function round(host: FakeHost) {
  const b = new Balancer(host, 0);
  if (host.metadata.leaderPlacement === 'spread') assert.deepEqual(b.round(), []);
  return b.round();
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

test('spread: a node hands the shards it leads to their preferred leaders, two per round', () => {
  const leaders = ['n1', 'n1', 'n1', 'n1', 'n2', 'n2'];
  const busy = new FakeHost('n1', 'spread', leaders, 'n1');
  const preferred = spreadLeaders(busy.metadata.table);
  assert.deepEqual([...preferred.keys()].sort(), [1, 2, 3, 4, 5, 6]);
  const wrong = leaders.flatMap((l, i) => (preferred.get(i + 1) === l ? [] : [i + 1]));
  const moves = round(busy);
  assert.equal(moves.length, 2, JSON.stringify(moves));
  for (const m of moves) {
    assert.equal(m.from, 'n1');
    assert.equal(m.to, preferred.get(m.group), JSON.stringify(m));
    assert.ok(wrong.includes(m.group), JSON.stringify(m));
  }
  // n3 leads nothing, so it has nothing to give; n2 gives only what is not its own.
  assert.deepEqual(round(new FakeHost('n3', 'spread', leaders, 'n1')), []);
  for (const m of round(new FakeHost('n2', 'spread', leaders, 'n1'))) {
    assert.ok(preferred.get(m.group) !== 'n2' && m.to === preferred.get(m.group), JSON.stringify(m));
  }
});

test('spread: once each node leads its preferred shards, nobody moves any', () => {
  const table = tableOf(
    IDS,
    Array.from({ length: 7 }, () => IDS),
  );
  // The leaders every node's balancer settles on, from any start.
  const leaders = (() => {
    const h = new FakeHost('n1', 'spread', Array(7).fill('n1'), 'n1', table);
    for (let r = 0; r < 10; r++) {
      const moved = round(h);
      if (moved.length === 0) break;
      for (const m of moved) h.lead(m.group, m.to);
    }
    return h.leaders();
  })();
  const led = new Map<string, number>();
  for (const l of leaders) led.set(l, (led.get(l) ?? 0) + 1);
  assert.deepEqual([...led.values()].sort(), [2, 2, 3], JSON.stringify(leaders));
  for (const self of IDS)
    assert.deepEqual(round(new FakeHost(self, 'spread', leaders, 'n1', table)), [], self);
});

// Four members, every shard on three of them: each node hosts only some shards, and counted only
// those it used to disagree with another about who led too many, handing one shard back and forth.
test('spread: nodes that each host a part of the shards never hand a shard back', () => {
  const members = ['n1', 'n2', 'n3', 'n4'];
  // Every 3 of the 4, twice.
  const threes = members.map((skip) => members.filter((m) => m !== skip));
  const voters = [...threes, ...threes];
  const table = tableOf(members, voters);
  // Start with every shard led by its first voter, then let every node's balancer run, rounds on
  // end, moving the leaderships as asked: it must come to rest with no shard moved twice.
  let leaders = voters.map((v) => v[0] as string);
  const movedBefore = new Set<number>();
  for (let r = 0; r < 20; r++) {
    const moves = members.flatMap((self) => round(new FakeHost(self, 'spread', leaders, 'n1', table)));
    if (moves.length === 0) break;
    for (const m of moves) {
      assert.ok(!movedBefore.has(m.group), `shard ${m.group} moved twice: ${JSON.stringify(m)}`);
      movedBefore.add(m.group);
      leaders = leaders.map((l, i) => (i + 1 === m.group ? m.to : l));
    }
  }
  for (const self of members) assert.deepEqual(round(new FakeHost(self, 'spread', leaders, 'n1', table)), []);
  const led = new Map<string, number>(members.map((m) => [m, 0]));
  for (const l of leaders) led.set(l, (led.get(l) ?? 0) + 1);
  assert.deepEqual([...led.values()], [2, 2, 2, 2], JSON.stringify(leaders));
});

test('spread: a round moves nothing when the table changed since the round before', () => {
  const leaders = ['n1', 'n1', 'n1', 'n1', 'n2', 'n2'];
  const host = new FakeHost('n1', 'spread', leaders, 'n1');
  const b = new Balancer(host, 0);
  assert.deepEqual(b.round(), [], 'a table not seen before');
  assert.equal(b.round().length, 2, 'the same table again');
  host.metadata.table = { ...host.metadata.table, lastOp: host.metadata.table.lastOp + 1 };
  assert.deepEqual(b.round(), [], 'a new table');
  assert.equal(b.round().length, 2, 'it held');
});

test('no moves while a shard has no leader', () => {
  assert.deepEqual(round(new FakeHost('n2', 'pack', ['n2', ''], 'n1')), []);
});
