// A leave that races a move towards the leaving member. Three members, R = 3: node c was admitted to
// shard 2, but shard 1's voters were recorded without it, so the rebalancer began a move adding c
// to shard 1 (c is its learner). Then `cluster leave c`. The leave must wait for that move to end
// (the rebalancer rolls back a move whose target is no longer up) before it takes c out of the
// groups and the table; racing it, the table refused to mark c removed (memberHoldsReplicas).
//
// The metadata leader here is a fake host around the real MetadataState (the table's rules are the
// real ones) and a fake rebalancer round, on a ManualClock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ConfChangeSingle, type ConfState, index, type NodeId, nodeId, term } from '../raft/types.ts';
import { type GroupId, METADATA_GROUP } from './ids.ts';
import type { GroupStatus } from './intents.ts';
import { ManualClock } from './manual-clock.ts';
import { type MembershipHost, removeMember } from './membership.ts';
import {
  decodeMetadataCommand,
  encodeMetadataCommand,
  type MetadataCommand,
  MetadataState,
  type TableChange,
} from './metadata.ts';
import { OneAtATime } from './one-at-a-time.ts';
import { RequestIds } from './state-machine.ts';

const A = nodeId('a');
const B = nodeId('b');
const C = nodeId('c');
const REBALANCER_ROUND_MS = 500;
const STEP_MS = 50;

function member(id: string) {
  return { nodeId: id, clientAddr: `${id}:1`, raftAddr: `${id}:2` };
}

class FakeLeader {
  readonly clock = new ManualClock(1_000_000);
  readonly metadata = new MetadataState();
  readonly conf = new Map<GroupId, ConfState>();
  private n = 0;
  /** Every group change proposed, in order: "group: type node". */
  readonly changes: string[] = [];

  constructor() {
    const cmds: MetadataCommand[] = [
      {
        requestId: 'i',
        op: 'init',
        clusterId: 'c1',
        shardCount: 2,
        member: member('a'),
        replicationFactor: 3,
      },
      { requestId: 'b', op: 'addMember', member: member('b') },
      { requestId: 'c', op: 'addMember', member: member('c') },
    ];
    for (const c of cmds) this.apply(c);
    this.table({ kind: 'setMemberState', nodeId: 'b', state: 'up' });
    this.table({ kind: 'setMemberState', nodeId: 'c', state: 'up' });
    this.table({ kind: 'setShardVoters', shard: 1, voters: ['a', 'b'] });
    this.table({ kind: 'setShardVoters', shard: 2, voters: ['a', 'b', 'c'] });
    // The move towards c on shard 1, its learner added.
    this.table({ kind: 'beginMove', shard: 1, source: null, target: 'c' });
    const moveId = this.metadata.table.shards[0]!.move!.id;
    this.table({ kind: 'moveStepDone', shard: 1, moveId, step: 'addLearner' });
    this.conf.set(METADATA_GROUP, {
      voters: [A, B, C],
      votersOutgoing: [],
      learners: [],
      learnersNext: [],
      autoLeave: false,
    });
    this.conf.set(1 as GroupId, {
      voters: [A, B],
      votersOutgoing: [],
      learners: [C],
      learnersNext: [],
      autoLeave: false,
    });
    this.conf.set(2 as GroupId, {
      voters: [A, B, C],
      votersOutgoing: [],
      learners: [],
      learnersNext: [],
      autoLeave: false,
    });
    // The rebalancer's round: a move whose target is no longer up and not yet a voter rolls back
    // (plan's abandon), its learner removed, then the move ends.
    this.clock.every(REBALANCER_ROUND_MS, () => this.rebalancerRound());
  }

  private apply(c: MetadataCommand) {
    this.n++;
    return this.metadata.apply(index(this.n), encodeMetadataCommand(c)).result;
  }

  private table(change: TableChange): void {
    const r = this.apply({ requestId: `t${this.n}`, op: 'table', change });
    assert.ok(r.ok, `${change.kind}: ${JSON.stringify(r)}`);
  }

  private rebalancerRound(): void {
    for (const s of this.metadata.table.shards) {
      const m = s.move;
      if (m === null || m.target === null) continue;
      if (m.step === 'rollBack') {
        const cs = this.conf.get(s.shardId as GroupId)!;
        this.conf.set(s.shardId as GroupId, { ...cs, learners: cs.learners.filter((l) => l !== m.target) });
        this.changes.push(`${s.shardId}: rollBack removes learner ${m.target}`);
        this.table({ kind: 'finishMove', shard: s.shardId, moveId: m.id });
      } else if (this.metadata.memberState(m.target) !== 'up') {
        this.table({ kind: 'abortMove', shard: s.shardId, moveId: m.id, reason: 'target left', atMs: 0 });
      }
    }
  }

  host(): MembershipHost {
    const statusOf = (g: GroupId): GroupStatus => ({
      id: g,
      self: A,
      role: 'leader',
      leader: A,
      leaderHeard: true,
      term: term(1),
      commit: index(10),
      applied: index(10),
      lastIndex: index(10),
      confState: this.conf.get(g)!,
      pendingConfIndex: index(0),
      progress: undefined,
      keys: 0,
      bytes: 0,
    });
    return {
      id: A,
      admissions: new OneAtATime(),
      logger: { info: () => {}, debug: () => {} },
      cluster: {
        join: () => Promise.reject(new Error('no join here')),
        status: () => Promise.reject(new Error('no status here')),
      },
      clock: this.clock,
      requestIds: new RequestIds({ nextInt: () => 7 }),
      metadata: this.metadata,
      removePeer: () => {},
      proposeMetadata: async (p) => {
        const result = this.apply(decodeMetadataCommand(p.command));
        return { result, index: index(this.n), term: term(1) };
      },
      changeMembership: (g: GroupId, change: ConfChangeSingle) => {
        const cs = this.conf.get(g)!;
        assert.equal(change.type, 'removeNode', `only removals in a leave, got ${change.type}`);
        const drop = (xs: readonly NodeId[]) => xs.filter((x) => x !== change.nodeId);
        this.conf.set(g, { ...cs, voters: drop(cs.voters), learners: drop(cs.learners) });
        this.changes.push(`${g}: removeNode ${change.nodeId}`);
      },
      transferLeadership: () => {},
      status: (g) => (this.conf.has(g) ? statusOf(g) : undefined),
      statuses: () => [...this.conf.keys()].sort((x, y) => x - y).map(statusOf),
    };
  }

  /** Runs `p` to its end on virtual time, advancing the clock in small steps (bounded). */
  async run<T>(p: Promise<T>): Promise<T> {
    let settled = false;
    const done = p.finally(() => {
      settled = true;
    });
    done.catch(() => {});
    for (let i = 0; i < 10_000 && !settled; i++) {
      await new Promise((r) => setImmediate(r));
      this.clock.advance(STEP_MS);
    }
    return done;
  }
}

test('a leave waits for a move towards the leaving member to roll back, then removes it', async () => {
  const f = new FakeLeader();
  await f.run(removeMember(f.host(), 'c', f.clock.nowMs() + 30_000));
  assert.equal(f.metadata.memberState('c'), 'removed');
  assert.equal(f.metadata.member('c'), undefined);
  // The rollback came before the leave touched any group.
  assert.equal(f.changes[0], '1: rollBack removes learner c', f.changes.join('; '));
  for (const [g, cs] of f.conf) {
    assert.ok(!cs.voters.includes(C) && !cs.learners.includes(C), `group ${g}: ${JSON.stringify(cs)}`);
  }
  assert.deepEqual(
    f.metadata.table.shards.map((s) => [s.shardId, s.voters, s.move]),
    [
      [1, ['a', 'b'], null],
      [2, ['a', 'b'], null],
    ],
  );
});

test('a move towards the leaving member that never ends fails the leave retry-safe at its deadline', async () => {
  const f = new FakeLeader();
  const host = f.host();
  // No rebalancer runs on this leader: the move stays in flight.
  const stuck = { ...host, clock: new ManualClock(f.clock.nowMs()) };
  const clock = stuck.clock;
  const p = removeMember(stuck, 'c', clock.nowMs() + 2_000);
  p.catch(() => {});
  let settled = false;
  p.finally(() => {
    settled = true;
  }).catch(() => {});
  for (let i = 0; i < 1000 && !settled; i++) {
    await new Promise((r) => setImmediate(r));
    clock.advance(STEP_MS);
  }
  await assert.rejects(p, (e: Error) => {
    assert.match(e.message, /moves towards 'c' are still in flight on shards 1/);
    assert.equal((e as { retrySafe?: boolean }).retrySafe, true);
    return true;
  });
  assert.deepEqual(f.changes, [], 'nothing was removed from any group');
  assert.equal(f.metadata.memberState('c'), 'draining');
});
