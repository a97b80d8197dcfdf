// The shard table (shard-table.ts): what each operation records, what it refuses and with which
// values, that a replayed log changes nothing, and that no sequence of operations, sensible or not,
// leaves a table that breaks an invariant (apply refuses with ShardTableError, or asserts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ShardTableError } from './errors.ts';
import {
  apply,
  assertValid,
  type ClusterSettings,
  EMPTY_TABLE,
  type MemberAddress,
  type MemberState,
  type MoveStep,
  type ShardTable,
  servingVoters,
  type TableOp,
} from './shard-table.ts';
import { SLOT_COUNT } from './slots.ts';

const settings: ClusterSettings = {
  shardCount: 8,
  replicationFactor: 3,
  deadNodeTimeoutMs: 300_000,
  movesInFlightMax: 2,
};

function addr(nodeId: string, zone = ''): MemberAddress {
  return { nodeId, zone, clientAddr: `${nodeId}:7000`, raftAddr: `${nodeId}:7001` };
}

type OpBody = TableOp extends infer T ? (T extends unknown ? Omit<T, 'n'> : never) : never;

/** Applies ops numbered after the table's last. */
function run(t: ShardTable, ...ops: OpBody[]): ShardTable {
  for (const op of ops) t = apply(t, { ...op, n: t.lastOp + 1 } as TableOp);
  return t;
}

function refused(t: ShardTable, op: OpBody, reason: string): ShardTableError {
  try {
    run(t, op);
  } catch (e) {
    assert.ok(e instanceof ShardTableError, `not a ShardTableError: ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    assert.equal(e.code, 'SHARD_TABLE_REJECTED');
    return e;
  }
  assert.fail(`${op.kind} was not refused`);
}

/** Three members a, b, c holding every shard, and d up with none. */
function fourMembers(): ShardTable {
  const t = run(EMPTY_TABLE, { kind: 'init', settings, members: ['a', 'b', 'c'].map((n) => addr(n)) });
  return run(
    t,
    { kind: 'addMember', member: addr('d') },
    { kind: 'setMemberState', nodeId: 'd', state: 'up' },
  );
}

test('init places every shard on R members, with its slots, at epoch 1', () => {
  const t = fourMembers();
  assert.equal(t.shards.length, 8);
  assert.equal(t.shards[0]?.slotFirst, 0);
  assert.equal(t.shards[7]?.slotLast, SLOT_COUNT - 1);
  for (const s of t.shards) {
    assert.deepEqual(s.voters, ['a', 'b', 'c']);
    assert.equal(s.epoch, 1);
  }
  assert.deepEqual(
    t.members.map((m) => [m.nodeId, m.state]),
    [
      ['a', 'up'],
      ['b', 'up'],
      ['c', 'up'],
      ['d', 'up'],
    ],
  );
  refused(t, { kind: 'init', settings, members: [addr('x')] }, 'alreadyInitialised');
  refused(EMPTY_TABLE, { kind: 'addMember', member: addr('x') }, 'notInitialised');
  refused(
    EMPTY_TABLE,
    { kind: 'init', settings: { ...settings, shardCount: 0 }, members: [addr('x')] },
    'badSettings',
  );
});

test('a move records each step: learner, joint configuration, new voters, with the epoch bumped on each change', () => {
  let t = run(fourMembers(), { kind: 'beginMove', shard: 3, source: 'a', target: 'd' });
  const id = t.lastOp;
  const seen: [MoveStep, string[], string[], string[], number][] = [];
  const snap = (): void => {
    const s = t.shards[2]!;
    seen.push([
      s.move?.step ?? ('none' as MoveStep),
      [...s.voters],
      [...s.votersOutgoing],
      [...s.learners],
      s.epoch,
    ]);
  };
  snap();
  for (const step of ['addLearner', 'catchUp', 'reconfigure', 'leaveJoint'] as const) {
    t = run(t, { kind: 'moveStepDone', shard: 3, moveId: id, step });
    snap();
  }
  t = run(t, { kind: 'finishMove', shard: 3, moveId: id });
  snap();
  assert.deepEqual(seen, [
    ['addLearner', ['a', 'b', 'c'], [], [], 1],
    ['catchUp', ['a', 'b', 'c'], [], ['d'], 2],
    ['reconfigure', ['a', 'b', 'c'], [], ['d'], 2],
    ['leaveJoint', ['b', 'c', 'd'], ['a', 'b', 'c'], [], 3],
    ['cleanup', ['b', 'c', 'd'], [], [], 4],
    ['none' as MoveStep, ['b', 'c', 'd'], [], [], 4],
  ]);
});

test("servingVoters: a move's source steps aside from the move's start, back when it rolls back; alone it serves", () => {
  let t = run(fourMembers(), { kind: 'beginMove', shard: 3, source: 'a', target: 'd' });
  const id = t.lastOp;
  const serving: string[][] = [[...servingVoters(t.shards[2]!)]];
  for (const step of ['addLearner', 'catchUp', 'reconfigure', 'leaveJoint'] as const) {
    t = run(t, { kind: 'moveStepDone', shard: 3, moveId: id, step });
    serving.push([...servingVoters(t.shards[2]!)]);
  }
  assert.deepEqual(serving, [
    ['b', 'c'],
    ['b', 'c'],
    ['b', 'c'],
    ['b', 'c', 'd'],
    ['b', 'c', 'd'],
  ]);
  assert.deepEqual(servingVoters(fourMembers().shards[2]!), ['a', 'b', 'c']);

  t = run(fourMembers(), { kind: 'beginMove', shard: 1, source: 'b', target: 'd' });
  const back = t.lastOp;
  t = run(t, { kind: 'moveStepDone', shard: 1, moveId: back, step: 'addLearner' });
  assert.deepEqual(servingVoters(t.shards[0]!), ['a', 'c']);
  t = run(t, { kind: 'abortMove', shard: 1, moveId: back, reason: 'no progress', atMs: 1 });
  assert.deepEqual(servingVoters(t.shards[0]!), ['a', 'b', 'c']);

  // One replica: its move's source is the only voter until the target is one, so it serves.
  let one = run(EMPTY_TABLE, {
    kind: 'init',
    settings: { ...settings, replicationFactor: 1 },
    members: [addr('a')],
  });
  one = run(
    one,
    { kind: 'addMember', member: addr('b') },
    { kind: 'setMemberState', nodeId: 'b', state: 'up' },
    { kind: 'beginMove', shard: 1, source: 'a', target: 'b' },
  );
  assert.deepEqual(servingVoters(one.shards[0]!), ['a']);
});

test('a move rolled back leaves the voters as they were, counts the failure and when it began', () => {
  let t = run(fourMembers(), { kind: 'beginMove', shard: 1, source: 'b', target: 'd' });
  const id = t.lastOp;
  t = run(t, { kind: 'moveStepDone', shard: 1, moveId: id, step: 'addLearner' });
  t = run(t, { kind: 'abortMove', shard: 1, moveId: id, reason: 'no progress', atMs: 5000 });
  assert.equal(t.shards[0]?.move?.step, 'rollBack');
  refused(t, { kind: 'moveStepDone', shard: 1, moveId: id, step: 'catchUp' }, 'wrongStep');
  t = run(t, { kind: 'finishMove', shard: 1, moveId: id });
  const s = t.shards[0]!;
  assert.deepEqual(
    [s.voters, s.learners, s.move, s.moveFailures, s.lastFailureAtMs, s.epoch],
    [['a', 'b', 'c'], [], null, 1, 5000, 3],
  );
  // The next move that finishes clears the count.
  t = run(t, { kind: 'beginMove', shard: 1, source: 'b', target: 'd' });
  const id2 = t.lastOp;
  for (const step of ['addLearner', 'catchUp', 'reconfigure', 'leaveJoint'] as const) {
    t = run(t, { kind: 'moveStepDone', shard: 1, moveId: id2, step });
  }
  t = run(t, { kind: 'finishMove', shard: 1, moveId: id2 });
  assert.deepEqual([t.shards[0]?.moveFailures, t.shards[0]?.lastFailureAtMs], [0, 0]);
});

test('a rollback the shard overtook (the change landed after all) goes forward from reconfigure', () => {
  let t = run(fourMembers(), { kind: 'beginMove', shard: 2, source: 'c', target: 'd' });
  const id = t.lastOp;
  t = run(
    t,
    { kind: 'moveStepDone', shard: 2, moveId: id, step: 'addLearner' },
    { kind: 'moveStepDone', shard: 2, moveId: id, step: 'catchUp' },
    { kind: 'abortMove', shard: 2, moveId: id, reason: 'timeout', atMs: 1 },
    { kind: 'moveStepDone', shard: 2, moveId: id, step: 'reconfigure' },
  );
  assert.deepEqual([t.shards[1]?.move?.step, t.shards[1]?.move?.rollBack], ['leaveJoint', null]);
  refused(t, { kind: 'abortMove', shard: 2, moveId: id, reason: 'late', atMs: 2 }, 'wrongStep');
});

test('moves without a source or without a target: a simple change, no joint step', () => {
  let t = run(EMPTY_TABLE, {
    kind: 'init',
    settings: { ...settings, replicationFactor: 1 },
    members: [addr('a')],
  });
  t = run(t, { kind: 'addMember', member: addr('b') }, { kind: 'setMemberState', nodeId: 'b', state: 'up' });
  t = run(t, { kind: 'beginMove', shard: 1, source: null, target: 'b' });
  const id = t.lastOp;
  for (const step of ['addLearner', 'catchUp', 'reconfigure'] as const)
    t = run(t, { kind: 'moveStepDone', shard: 1, moveId: id, step });
  assert.deepEqual([t.shards[0]?.move?.step, t.shards[0]?.voters], ['cleanup', ['a', 'b']]);
  t = run(
    t,
    { kind: 'finishMove', shard: 1, moveId: id },
    { kind: 'beginMove', shard: 1, source: 'a', target: null },
  );
  const id2 = t.lastOp;
  assert.equal(t.shards[0]?.move?.step, 'reconfigure');
  t = run(t, { kind: 'moveStepDone', shard: 1, moveId: id2, step: 'reconfigure' });
  assert.deepEqual([t.shards[0]?.move?.step, t.shards[0]?.voters], ['cleanup', ['b']]);
  // The last voter never goes.
  t = run(t, { kind: 'finishMove', shard: 1, moveId: id2 });
  refused(t, { kind: 'beginMove', shard: 1, source: 'b', target: null }, 'badMove');
});

test('refusals carry the reason and the values', () => {
  let t = fourMembers();
  t = run(t, { kind: 'beginMove', shard: 1, source: 'a', target: 'd' });
  const e = refused(t, { kind: 'beginMove', shard: 1, source: 'b', target: 'd' }, 'moveInFlight');
  assert.deepEqual(e.values, { shard: 1, source: 'b', target: 'd', moveId: t.lastOp });
  assert.match(e.message, /shard 1 is moving already/);
  refused(t, { kind: 'beginMove', shard: 2, source: 'a', target: 'd' }, 'targetBusy');
  refused(t, { kind: 'beginMove', shard: 2, source: 'd', target: null }, 'badMove');
  refused(t, { kind: 'beginMove', shard: 2, source: 'a', target: 'b' }, 'badMove');
  refused(t, { kind: 'beginMove', shard: 9, source: 'a', target: null }, 'unknownShard');
  refused(t, { kind: 'moveStepDone', shard: 1, moveId: t.lastOp, step: 'catchUp' }, 'wrongStep');
  refused(t, { kind: 'moveStepDone', shard: 1, moveId: 999, step: 'addLearner' }, 'noSuchMove');
  refused(t, { kind: 'setMemberState', nodeId: 'd', state: 'removed' }, 'badTransition');
  t = run(t, { kind: 'addMember', member: addr('e') });
  refused(t, { kind: 'beginMove', shard: 2, source: 'a', target: 'e' }, 'targetNotUp');
  t = run(
    t,
    { kind: 'setMemberState', nodeId: 'e', state: 'up' },
    { kind: 'beginMove', shard: 2, source: 'a', target: 'e' },
  );
  t = run(t, { kind: 'addMember', member: addr('f') }, { kind: 'setMemberState', nodeId: 'f', state: 'up' });
  const k = refused(t, { kind: 'beginMove', shard: 3, source: 'a', target: 'f' }, 'movesInFlightMax');
  assert.equal(k.values.max, 2);
  refused(t, { kind: 'setSettings', change: { movesInFlightMax: 1 } }, 'badSettings');
  t = run(t, { kind: 'setMemberState', nodeId: 'a', state: 'draining' });
  const h = refused(t, { kind: 'setMemberState', nodeId: 'a', state: 'removed' }, 'memberHoldsReplicas');
  assert.deepEqual(h.values, { nodeId: 'a', shards: 8 });
  refused(t, { kind: 'addMember', member: { ...addr('a'), raftAddr: 'elsewhere:1' } }, 'memberExists');
  assert.equal(
    run(t, { kind: 'addMember', member: addr('a') }).members,
    t.members,
    'a join retried changes nothing',
  );
});

test('a replayed operation changes nothing: the same log applied twice gives the same table', () => {
  let t = fourMembers();
  const ops: TableOp[] = [];
  const log = (op: OpBody): void => {
    const numbered = { ...op, n: t.lastOp + 1 } as TableOp;
    ops.push(numbered);
    t = apply(t, numbered);
  };
  log({ kind: 'beginMove', shard: 4, source: 'c', target: 'd' });
  log({ kind: 'moveStepDone', shard: 4, moveId: t.lastOp, step: 'addLearner' });
  log({ kind: 'setSettings', change: { replicationFactor: 2 } });
  const once = t;
  for (const op of ops) assert.equal(apply(t, op), once, `op ${op.n} replayed`);
  assert.throws(() => apply(t, { kind: 'addMember', member: addr('z'), n: 0 }), ShardTableError);
});

/** Random operations over a small world: many are refused; none may leave an invalid table. */
const opArb: fc.Arbitrary<OpBody> = (() => {
  const node = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
  const nodeOrNull = fc.option(node, { nil: null });
  const shard = fc.integer({ min: 0, max: 9 });
  const step = fc.constantFrom<MoveStep>(
    'addLearner',
    'catchUp',
    'reconfigure',
    'leaveJoint',
    'cleanup',
    'rollBack',
  );
  const state = fc.constantFrom<MemberState>('joining', 'up', 'draining', 'down', 'removed');
  return fc.oneof(
    node.map((n) => ({ kind: 'addMember', member: addr(n, n < 'd' ? 'z1' : 'z2') }) as OpBody),
    fc.record({ nodeId: node, state }).map((r) => ({ kind: 'setMemberState', ...r }) as OpBody),
    fc
      .integer({ min: 0, max: 8 })
      .map((r) => ({ kind: 'setSettings', change: { replicationFactor: r } }) as OpBody),
    fc
      .record({ shard, source: nodeOrNull, target: nodeOrNull })
      .map((r) => ({ kind: 'beginMove', ...r }) as OpBody),
    // 'current': the step the shard's move is at (mostly what a driver records).
    fc
      .record({
        shard,
        step: fc.oneof(step, fc.constant('current' as MoveStep), fc.constant('current' as MoveStep)),
      })
      .map((r) => ({ kind: 'moveStepDone', moveId: -1, ...r }) as OpBody),
    shard.map((s) => ({ kind: 'abortMove', shard: s, moveId: -1, reason: 'test', atMs: 7 }) as OpBody),
    shard.map((s) => ({ kind: 'finishMove', shard: s, moveId: -1 }) as OpBody),
    fc
      .record({ shard, voters: fc.array(node, { minLength: 0, maxLength: 4 }) })
      .map((r) => ({ kind: 'setShardVoters', ...r }) as OpBody),
  );
})();

test('setShardVoters records voters changed outside a move, bumps the epoch, refuses while moving', () => {
  let t = fourMembers();
  const epoch = t.shards[0]!.epoch;
  t = run(t, { kind: 'setShardVoters', shard: 1, voters: ['d', 'a', 'b', 'c'] });
  assert.deepEqual(t.shards[0]!.voters, ['a', 'b', 'c', 'd']);
  assert.equal(t.shards[0]!.epoch, epoch + 1);
  const same = run(t, { kind: 'setShardVoters', shard: 1, voters: ['a', 'b', 'c', 'd'] });
  assert.equal(same.shards[0]!.epoch, epoch + 1);
  refused(t, { kind: 'setShardVoters', shard: 1, voters: ['a', 'a'] }, 'badMove');
  refused(t, { kind: 'setShardVoters', shard: 1, voters: [] }, 'badMove');
  refused(t, { kind: 'setShardVoters', shard: 1, voters: ['a', 'x'] }, 'badMove');
  refused(t, { kind: 'setShardVoters', shard: 9, voters: ['a'] }, 'unknownShard');
  t = run(t, { kind: 'beginMove', shard: 2, source: 'a', target: null });
  refused(t, { kind: 'setShardVoters', shard: 2, voters: ['b', 'c'] }, 'moveInFlight');
});

test('every operation is applied to a valid table or refused with a ShardTableError, never half-done', () => {
  let applied = 0;
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 50, maxLength: 200 }), (ops) => {
      let t = fourMembers();
      for (const raw of ops) {
        // Moves are named by the shard's move in flight (moveId -1), or refused as unknown.
        const move = 'moveId' in raw ? t.shards[raw.shard - 1]?.move : undefined;
        let op = 'moveId' in raw ? { ...raw, moveId: move?.id ?? 999 } : raw;
        if (op.kind === 'moveStepDone' && op.step === ('current' as MoveStep))
          op = { ...op, step: move?.step ?? 'catchUp' };
        const before = t;
        try {
          t = run(t, op as OpBody);
          applied++;
        } catch (e) {
          if (!(e instanceof ShardTableError)) throw e;
          assert.equal(t, before);
        }
        assertValid(t);
      }
    }),
    { numRuns: 150 },
  );
  assert.ok(applied > 2000, `only ${applied} operations were applied`);
});
