// The rebalancer acts on a move only while it still leads the shard: its observation awaits the
// target's Status, and a node that lost the leadership meanwhile would propose the change anyway;
// its core, now a follower, forwards it to the new leader, which applies it to a configuration it
// was not planned against (found by `ringkv sim --real --nodes 4`, seed 334: the shard was left in a
// joint configuration of the same voters on both halves, which nothing ever leaves).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { type ConfChange, index, type NodeId } from '../raft/types.ts';
import {
  apply,
  EMPTY_TABLE,
  type MemberAddress,
  type ShardTable,
  type TableOp,
} from '../ring/shard-table.ts';
import { type GroupId, METADATA_GROUP } from './ids.ts';
import type { GroupStatus } from './intents.ts';
import { ManualClock } from './manual-clock.ts';
import { decodeMetadataCommand, type MemberInfo, type TableChange } from './metadata.ts';
import type { PeerStatus } from './options.ts';
import { JOIN_HOLD_MS, Rebalancer, type RebalancerHost } from './rebalancer.ts';
import { RequestIds } from './state-machine.ts';

type OpBody = TableOp extends infer T ? (T extends unknown ? Omit<T, 'n'> : never) : never;

function run(t: ShardTable, ...ops: OpBody[]): ShardTable {
  for (const op of ops) t = apply(t, { ...op, n: t.lastOp + 1 } as TableOp);
  return t;
}

const addr = (nodeId: string): MemberAddress => ({
  nodeId,
  zone: '',
  clientAddr: `${nodeId}:7000`,
  raftAddr: `${nodeId}:7001`,
});

/** n1..n3 hold shard 1; n4 joined; the move of shard 1 from n3 to n4 is at reconfigure (n4 caught up). */
function tableAtReconfigure(): ShardTable {
  let t = run(EMPTY_TABLE, {
    kind: 'init',
    settings: { shardCount: 1, replicationFactor: 3, deadNodeTimeoutMs: 300_000, movesInFlightMax: 2 },
    members: ['n1', 'n2', 'n3'].map(addr),
  });
  t = run(
    t,
    { kind: 'addMember', member: addr('n4') },
    { kind: 'setMemberState', nodeId: 'n4', state: 'up' },
    { kind: 'beginMove', shard: 1, source: 'n3', target: 'n4' },
  );
  const id = t.shards[0]?.move?.id ?? 0;
  return run(
    t,
    { kind: 'moveStepDone', shard: 1, moveId: id, step: 'addLearner' },
    { kind: 'moveStepDone', shard: 1, moveId: id, step: 'catchUp' },
  );
}

const n = (ids: string[]) => ids as NodeId[];

/** Lets the rebalancer's awaited observations and table changes run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** `silent`: replicas the leader has not heard from within the election timeout (recentActive false). */
function shardStatus(role: GroupStatus['role'], term: number, silent: readonly string[] = []): GroupStatus {
  return {
    id: 1 as GroupId,
    role,
    term,
    leader: (role === 'leader' ? 'n1' : 'n2') as NodeId,
    commit: 40,
    applied: 40,
    lastIndex: 40,
    pendingConfIndex: 0,
    confState: {
      voters: n(['n1', 'n2', 'n3']),
      votersOutgoing: [],
      learners: n(['n4']),
      learnersNext: [],
      autoLeave: false,
    },
    progress:
      role === 'leader'
        ? new Map(
            ['n1', 'n2', 'n3', 'n4'].map((id) => [
              id as NodeId,
              { state: 'replicate', match: 40, next: 41, recentActive: !silent.includes(id) },
            ]),
          )
        : undefined,
  } as unknown as GroupStatus;
}

/** n4's Status: it has applied shard 1 up to 40. */
function n4Status(): PeerStatus {
  return {
    nodeId: 'n4',
    clusterId: 'c',
    members: [],
    applied: new Map([[1, 40]]),
    metadataGroup: { leader: '', voters: [], learners: [], votersOutgoing: [], commit: 0, applied: 0 },
  };
}

/** n1 as the shard's leader over `table`: asks Status with `status`, records proposed changes. */
function fakeHost(o: {
  table: ShardTable;
  clock: ManualClock;
  status: () => Promise<PeerStatus>;
  shard: () => GroupStatus;
  proposed: ConfChange[];
}): RebalancerHost {
  return {
    id: 'n1' as NodeId,
    isClosing: false,
    logger: pino({ level: 'silent' }),
    clock: o.clock,
    cluster: { join: () => Promise.reject(new Error('not used')), status: o.status },
    requestIds: new RequestIds({ nextInt: () => 1 }),
    metadata: {
      table: o.table,
      member: (id: string): MemberInfo | undefined =>
        ['n1', 'n2', 'n3', 'n4'].includes(id)
          ? { nodeId: id, clientAddr: `${id}:7000`, raftAddr: `${id}:7001` }
          : undefined,
    },
    status: (g) => (g === 1 ? o.shard() : undefined),
    statuses: () => [o.shard()],
    transferLeadership: () => assert.fail('no leadership transfer expected'),
    changeMembership: () => assert.fail('no membership change expected'),
    proposeMetadata: () => Promise.reject(new Error('not the metadata leader')),
    reconfigure: (_g, cc) => o.proposed.push(cc),
    snapshotIndex: () => 0,
  };
}

test('a node that lost the shard leadership while it observed does not propose the change', async () => {
  const table = tableAtReconfigure();
  const clock = new ManualClock(0);
  let shard = shardStatus('leader', 5);
  const proposed: ConfChange[] = [];
  let answerStatus: (s: PeerStatus) => void = () => {};
  const host = fakeHost({
    table,
    clock,
    // The target's Status: answered when the test says.
    status: () => new Promise<PeerStatus>((resolve) => (answerStatus = resolve)),
    shard: () => shard,
    proposed,
  });
  const rebalancer = new Rebalancer(host, 500);
  const answer = (): void => answerStatus(n4Status());
  const settle = () => new Promise((r) => setImmediate(r));

  // Still the leader in the same term when the answer comes: the joint change is proposed.
  rebalancer.round();
  answer();
  await settle();
  assert.equal(proposed.length, 1, 'the change is proposed by the leader');

  // The leadership moves on (term 6) while the target's Status is awaited: nothing is proposed.
  proposed.length = 0;
  rebalancer.round();
  shard = shardStatus('follower', 6);
  answer();
  await settle();
  assert.deepEqual(proposed, []);

  // Leader again, in a later term: a round from that term acts.
  shard = shardStatus('leader', 7);
  rebalancer.round();
  answer();
  await settle();
  assert.equal(proposed.length, 1);
});

test('a replica the leader has not heard from is not up to date, however close its match: the learner is not promoted', async () => {
  // n4 matched the log end once and went silent: with no new entries its match still looks current.
  const shard = shardStatus('leader', 5, ['n4']);
  const proposed: ConfChange[] = [];
  let asked = 0;
  const host = fakeHost({
    table: tableAtReconfigure(),
    clock: new ManualClock(0),
    status: async () => {
      asked++;
      return n4Status();
    },
    shard: () => shard,
    proposed,
  });
  new Rebalancer(host, 500).round();
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.ok(asked > 0, 'the rebalancer observed the move');
  assert.deepEqual(proposed, [], 'no change proposed for a silent learner');
});

test('a shard whose configuration fits no step of its move is reshaped: the source voting beside the target goes, a joint configuration is left', async () => {
  // The move of shard 1 from n3 to n4 is at reconfigure; a change from outside it made n4 a voter
  // while n3 still is one (then, a second time, left the shard joint with n3 in both halves).
  let confState = {
    voters: n(['n1', 'n2', 'n3', 'n4']),
    votersOutgoing: n([]),
    learners: n([]),
    learnersNext: [],
    autoLeave: false,
  };
  const proposed: ConfChange[] = [];
  const host = fakeHost({
    table: tableAtReconfigure(),
    clock: new ManualClock(0),
    status: async () => n4Status(),
    shard: () => ({ ...shardStatus('leader', 5), confState }) as GroupStatus,
    proposed,
  });
  const rebalancer = new Rebalancer(host, 500);
  rebalancer.round();
  await settle();
  assert.deepEqual(
    proposed.map((cc) => ({ changes: cc.changes, transition: cc.transition, basis: cc.basis?.voters })),
    [{ changes: [{ type: 'removeNode', nodeId: 'n3' }], transition: 'auto', basis: confState.voters }],
  );

  proposed.length = 0;
  confState = { ...confState, voters: n(['n1', 'n3', 'n4']), votersOutgoing: n(['n1', 'n2', 'n3']) };
  rebalancer.round();
  await settle();
  assert.deepEqual(
    proposed.map((cc) => ({ changes: cc.changes, transition: cc.transition })),
    [{ changes: [], transition: 'auto' }],
  );
});

test("a move's source keeps its copy until every voter not marked down has applied the configuration without it", async () => {
  // The move of shard 1 from n3 to n4 is at leaveJoint, and the leader n1 has left the joint
  // configuration at index 40: n3 is out. n2 has not applied that entry yet (it reports 35).
  let table = tableAtReconfigure();
  const id = table.shards[0]?.move?.id ?? 0;
  table = run(table, { kind: 'moveStepDone', shard: 1, moveId: id, step: 'reconfigure' });
  const applied = new Map([
    ['n2', 35],
    ['n4', 40],
  ]);
  const recorded: TableChange[] = [];
  const host: RebalancerHost = {
    ...fakeHost({
      table,
      clock: new ManualClock(0),
      status: async () => assert.fail('answered below'),
      shard: () =>
        ({
          ...shardStatus('leader', 5),
          pendingConfIndex: index(40),
          confState: {
            voters: n(['n1', 'n2', 'n4']),
            votersOutgoing: [],
            learners: [],
            learnersNext: [],
            autoLeave: false,
          },
        }) as GroupStatus,
      proposed: [],
    }),
    cluster: {
      join: () => Promise.reject(new Error('not used')),
      status: async (addr: string) => {
        const id = addr.split(':')[0] ?? '';
        return { ...n4Status(), nodeId: id, applied: new Map([[1, applied.get(id) ?? 0]]) };
      },
    },
    proposeMetadata: (p) => {
      const cmd = decodeMetadataCommand(p.command);
      if (cmd.op === 'table') recorded.push(cmd.change);
      return Promise.resolve({ result: { ok: true } } as never);
    },
  };
  const rebalancer = new Rebalancer(host, 500);
  rebalancer.round();
  await settle();
  assert.deepEqual(recorded, [], 'nothing recorded while n2 is behind');

  applied.set('n2', 40);
  rebalancer.round();
  await settle();
  assert.deepEqual(recorded, [{ kind: 'moveStepDone', shard: 1, moveId: id, step: 'leaveJoint' }]);

  // n2 behind again, but marked down: not waited for.
  recorded.length = 0;
  applied.set('n2', 0);
  (host.metadata as { table: ShardTable }).table = run(table, {
    kind: 'setMemberState',
    nodeId: 'n2',
    state: 'down',
  });
  rebalancer.round();
  await settle();
  assert.deepEqual(recorded, [{ kind: 'moveStepDone', shard: 1, moveId: id, step: 'leaveJoint' }]);
});

test('after a shard action, and after a table change, the next round comes at once, not a round later', async () => {
  const clock = new ManualClock(0);
  const proposed: ConfChange[] = [];
  let asked = 0;
  const host = fakeHost({
    table: tableAtReconfigure(),
    clock,
    status: async () => {
      asked++;
      return n4Status();
    },
    shard: () => shardStatus('leader', 5),
    proposed,
  });
  const rebalancer = new Rebalancer(host, 10_000);
  // Not running: a nudge does nothing.
  rebalancer.nudge();
  assert.equal(clock.nextDueMs(), undefined);
  rebalancer.start();
  rebalancer.round();
  await settle();
  assert.equal(proposed.length, 1, 'the joint change is proposed');
  assert.equal(asked, 1);
  // The shard action brings a round 50 ms later, long before the interval's.
  clock.advance(49);
  await settle();
  assert.equal(asked, 1);
  clock.advance(1);
  await settle();
  assert.equal(asked, 2, 'a round observed the shard again');
  // A table change (the node nudges): a round 10 ms later; two nudges make one round.
  const before = asked;
  rebalancer.nudge();
  rebalancer.nudge();
  clock.advance(10);
  await settle();
  assert.equal(asked, before + 1);
  rebalancer.stop();
  clock.advance(20_000);
  await settle();
  assert.equal(asked, before + 1, 'stopped: no round at all');
});

/** n1..n3 hold 4 shards; n4 is up and holds none yet; n5 is joining. */
function tableWithJoiner(): ShardTable {
  const t = run(EMPTY_TABLE, {
    kind: 'init',
    settings: { shardCount: 4, replicationFactor: 3, deadNodeTimeoutMs: 300_000, movesInFlightMax: 2 },
    members: ['n1', 'n2', 'n3'].map(addr),
  });
  return run(
    t,
    { kind: 'addMember', member: addr('n4') },
    { kind: 'setMemberState', nodeId: 'n4', state: 'up' },
    { kind: 'addMember', member: addr('n5') },
  );
}

/** n1 as the metadata group's leader over the table `table()`: records the table changes proposed. */
function metadataLeader(table: () => ShardTable, clock: ManualClock, begun: TableChange[]): RebalancerHost {
  const ids = ['n1', 'n2', 'n3', 'n4', 'n5'] as NodeId[];
  const meta = {
    id: METADATA_GROUP,
    role: 'leader',
    term: 1,
    leader: 'n1',
    commit: 10,
    applied: 10,
    lastIndex: 10,
    pendingConfIndex: 0,
    confState: { voters: ids, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false },
    progress: new Map(ids.map((id) => [id, { state: 'replicate', match: 10, next: 11, recentActive: true }])),
  } as unknown as GroupStatus;
  return {
    id: 'n1' as NodeId,
    isClosing: false,
    logger: pino({ level: 'silent' }),
    clock,
    cluster: {
      join: () => Promise.reject(new Error('not used')),
      status: () => Promise.reject(new Error('not used')),
    },
    requestIds: new RequestIds({ nextInt: () => 1 }),
    metadata: {
      get table() {
        return table();
      },
      member: () => undefined,
    },
    status: (g) => (g === METADATA_GROUP ? meta : undefined),
    statuses: () => [meta],
    transferLeadership: () => assert.fail('no leadership transfer expected'),
    changeMembership: () => {},
    proposeMetadata: (p) => {
      const cmd = decodeMetadataCommand(p.command);
      if (cmd.op === 'table' && cmd.change.kind === 'beginMove') begun.push(cmd.change);
      return Promise.resolve({ result: { ok: true } } as never);
    },
    reconfigure: () => assert.fail('no reconfiguration expected'),
    snapshotIndex: () => 0,
  };
}

test('no move begins while a member joins, until it is up or has joined for JOIN_HOLD_MS', async () => {
  const settle = () => new Promise((r) => setImmediate(r));
  const roundAt = async (r: Rebalancer, clock: ManualClock, ms: number): Promise<void> => {
    clock.advance(ms - clock.nowMs());
    r.round();
    for (let i = 0; i < 10; i++) await settle();
  };

  // n5 stays joining: nothing begins (n4 is up and holds nothing), until the hold runs out.
  let table = tableWithJoiner();
  const clock = new ManualClock(0);
  const begun: TableChange[] = [];
  const rebalancer = new Rebalancer(
    metadataLeader(() => table, clock, begun),
    500,
  );
  await roundAt(rebalancer, clock, 0);
  await roundAt(rebalancer, clock, JOIN_HOLD_MS - 1);
  assert.deepEqual(begun, [], 'no move while n5 joins');
  await roundAt(rebalancer, clock, JOIN_HOLD_MS);
  assert.ok(begun.length > 0, 'the hold ends after JOIN_HOLD_MS');
  assert.deepEqual(new Set(begun.map((c) => (c as { target?: string }).target)), new Set(['n4']));

  // n5 up: the moves begin at once.
  table = tableWithJoiner();
  begun.length = 0;
  const clock2 = new ManualClock(0);
  const rebalancer2 = new Rebalancer(
    metadataLeader(() => table, clock2, begun),
    500,
  );
  await roundAt(rebalancer2, clock2, 0);
  assert.deepEqual(begun, []);
  table = run(table, { kind: 'setMemberState', nodeId: 'n5', state: 'up' });
  await roundAt(rebalancer2, clock2, 1_000);
  assert.ok(begun.length > 0, 'moves begin once n5 is up');
});
