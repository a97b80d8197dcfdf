// The move state machine (move.ts): a transcript of one move of shard 3's replica from a to d
// through every step and its detours (leadership handed away first, a learner still catching up,
// no quorum yet, a change pending, a timeout, a rollback the shard overtook, configurations no step
// fits), then properties over random reports: a configuration change is only ever proposed when
// every configuration it leads to has a quorum of up-to-date voters, and never while another is
// pending.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  hasQuorum,
  learnerCaughtUp,
  MOVE_BACKOFF_BASE_MS,
  MOVE_BACKOFF_MAX_MS,
  MOVE_LIMITS_DEFAULT,
  type MoveAction,
  moveBackoffMs,
  nextAction,
  type ShardObservation,
} from './move.ts';
import { type Move, type MoveStep, stepAfter } from './shard-table.ts';

const TIMEOUT = MOVE_LIMITS_DEFAULT.stepTimeoutMs;

function move(step: MoveStep, source: string | null = 'a', target: string | null = 'd'): Move {
  return {
    id: 17,
    source,
    target,
    step,
    votersBefore: ['a', 'b', 'c'],
    rollBack: step === 'rollBack' ? { reason: 'test', atMs: 0 } : null,
  };
}

/** A shard of a, b, c led by b, all up to date, applied 100, snapshot at 80. */
function obs(o: Partial<ShardObservation> = {}): ShardObservation {
  return {
    voters: ['a', 'b', 'c'],
    votersOutgoing: [],
    learners: [],
    leader: 'b',
    leaderApplied: 100,
    leaderSnapshotIndex: 80,
    learnerApplied: 0,
    caughtUp: ['a', 'b', 'c'],
    confChangePending: false,
    sourceDataGone: false,
    votersBehind: [],
    sinceProgressMs: 0,
    ...o,
  };
}

function show(a: MoveAction): string {
  switch (a.kind) {
    case 'transferLeadership':
      return `transferLeadership → ${a.to}`;
    case 'addLearner':
    case 'removeLearner':
    case 'deleteReplica':
      return `${a.kind} ${a.node}`;
    case 'reconfigure':
      return `reconfigure +${a.addVoter ?? '-'} −${a.removeVoter ?? '-'}${a.joint ? ' (joint)' : ''}`;
    case 'stepDone':
      return `stepDone ${a.step}`;
    case 'wait':
    case 'rollBack':
      return `${a.kind}: ${a.reason}`;
    default:
      return a.kind;
  }
}

/** d a learner that the leader hears from and matches. */
const learnerIn = { learners: ['d'], caughtUp: ['a', 'b', 'c', 'd'] };
const joint = { voters: ['b', 'c', 'd'], votersOutgoing: ['a', 'b', 'c'] };
const after = { voters: ['b', 'c', 'd'] };

test('a move of a replica from a to d, step by step (transcript)', () => {
  const cases: [string, Move, ShardObservation][] = [
    ['addLearner, a leads', move('addLearner'), obs({ leader: 'a' })],
    [
      'addLearner, a leads, the handover stuck past the timeout',
      move('addLearner'),
      obs({ leader: 'a', sinceProgressMs: TIMEOUT }),
    ],
    [
      'addLearner, a leads, nobody else up to date',
      move('addLearner'),
      obs({ leader: 'a', caughtUp: ['a'] }),
    ],
    ['addLearner, b leads', move('addLearner'), obs()],
    ['addLearner, no leader', move('addLearner'), obs({ leader: null })],
    [
      'addLearner, no leader past the timeout',
      move('addLearner'),
      obs({ leader: null, sinceProgressMs: TIMEOUT }),
    ],
    ['addLearner, d is a learner', move('addLearner'), obs(learnerIn)],
    ['catchUp, d before the snapshot', move('catchUp'), obs({ ...learnerIn, learnerApplied: 79 })],
    [
      'catchUp, d past the snapshot, 21 behind',
      move('catchUp'),
      obs({ ...learnerIn, learnerApplied: 79, leaderSnapshotIndex: 60 }),
    ],
    ['catchUp, d 20 behind', move('catchUp'), obs({ ...learnerIn, learnerApplied: 80 })],
    [
      'catchUp, d silent (reports 0 of a young shard)',
      move('catchUp'),
      obs({ ...learnerIn, caughtUp: ['a', 'b', 'c'], leaderApplied: 12, leaderSnapshotIndex: 0 }),
    ],
    [
      'catchUp, stuck past the timeout',
      move('catchUp'),
      obs({ ...learnerIn, learnerApplied: 50, sinceProgressMs: TIMEOUT }),
    ],
    [
      'catchUp, stuck, a change pending',
      move('catchUp'),
      obs({ ...learnerIn, learnerApplied: 50, sinceProgressMs: TIMEOUT, confChangePending: true }),
    ],
    ['catchUp, d gone from the shard', move('catchUp'), obs()],
    ['reconfigure', move('reconfigure'), obs({ ...learnerIn, learnerApplied: 95 })],
    [
      'reconfigure, a leads again',
      move('reconfigure'),
      obs({ ...learnerIn, learnerApplied: 95, leader: 'a' }),
    ],
    [
      'reconfigure, c behind',
      move('reconfigure'),
      obs({ ...learnerIn, learnerApplied: 95, caughtUp: ['a', 'b', 'd'] }),
    ],
    ['reconfigure, d behind', move('reconfigure'), obs({ ...learnerIn, learnerApplied: 60 })],
    [
      'reconfigure, b and c behind',
      move('reconfigure'),
      obs({ ...learnerIn, learnerApplied: 95, caughtUp: ['a', 'd'] }),
    ],
    [
      'reconfigure, change pending',
      move('reconfigure'),
      obs({ ...learnerIn, learnerApplied: 95, confChangePending: true }),
    ],
    ['reconfigure, the shard is joint', move('reconfigure'), obs(joint)],
    ['leaveJoint, a leads', move('leaveJoint'), obs({ ...joint, leader: 'a' })],
    ['leaveJoint', move('leaveJoint'), obs(joint)],
    [
      'leaveJoint, long past the timeout',
      move('leaveJoint'),
      obs({ ...joint, sinceProgressMs: 10 * TIMEOUT }),
    ],
    ['leaveJoint, left', move('leaveJoint'), obs(after)],
    ['leaveJoint, left, c has not applied it', move('leaveJoint'), obs({ ...after, votersBehind: ['c'] })],
    ['cleanup', move('cleanup'), obs(after)],
    ['cleanup, a deleted it', move('cleanup'), obs({ ...after, sourceDataGone: true })],
    ['cleanup, a never answers', move('cleanup'), obs({ ...after, sinceProgressMs: TIMEOUT })],
    ['rollBack, d a learner', move('rollBack'), obs(learnerIn)],
    ['rollBack, its removal pending', move('rollBack'), obs({ ...learnerIn, confChangePending: true })],
    ['rollBack, d gone', move('rollBack'), obs()],
    ['rollBack, but the shard went joint', move('rollBack'), obs(joint)],
    ['add d (no source), reconfigure', move('reconfigure', null), obs({ ...learnerIn, learnerApplied: 100 })],
    ['add d (no source), added', move('reconfigure', null), obs({ voters: ['a', 'b', 'c', 'd'] })],
    ['remove a (no target)', move('reconfigure', 'a', null), obs()],
    ['remove a, c behind', move('reconfigure', 'a', null), obs({ caughtUp: ['a', 'b'] })],
    ['remove a, removed', move('reconfigure', 'a', null), obs({ voters: ['b', 'c'] })],
    [
      'remove a, removed, c silent',
      move('reconfigure', 'a', null),
      obs({ voters: ['b', 'c'], votersBehind: ['c'] }),
    ],
    [
      'remove a, rolling back, removed, c silent',
      move('rollBack', 'a', null),
      obs({ voters: ['b', 'c'], votersBehind: ['c'] }),
    ],
    [
      'add d (no source), added, c silent',
      move('reconfigure', null),
      obs({ voters: ['a', 'b', 'c', 'd'], votersBehind: ['c'] }),
    ],
    [
      'reconfigure, the shard is joint, c silent',
      move('reconfigure'),
      obs({ ...joint, votersBehind: ['c'] }),
    ],
    // R = 1: a is the shard's only voter and leads it; nobody to hand over to before the joint state.
    ['R = 1, addLearner', move('addLearner'), obs({ voters: ['a'], leader: 'a', caughtUp: ['a'] })],
    [
      'R = 1, catchUp',
      move('catchUp'),
      obs({ voters: ['a'], leader: 'a', learners: ['d'], caughtUp: ['a', 'd'], learnerApplied: 100 }),
    ],
    [
      'R = 1, reconfigure',
      move('reconfigure'),
      obs({ voters: ['a'], leader: 'a', learners: ['d'], caughtUp: ['a', 'd'], learnerApplied: 100 }),
    ],
    [
      'R = 1, leaveJoint, a leads',
      move('leaveJoint'),
      obs({ voters: ['d'], votersOutgoing: ['a'], leader: 'a', caughtUp: ['a', 'd'] }),
    ],
    [
      'R = 1, leaveJoint, d leads',
      move('leaveJoint'),
      obs({ voters: ['d'], votersOutgoing: ['a'], leader: 'd', caughtUp: ['a', 'd'] }),
    ],
    [
      'odd: d a voter beside a, at catchUp',
      move('catchUp'),
      obs({ voters: ['a', 'b', 'c', 'd'], caughtUp: ['a', 'b', 'c', 'd'] }),
    ],
    [
      'odd: d a voter beside a, a leads',
      move('reconfigure'),
      obs({ voters: ['a', 'b', 'c', 'd'], leader: 'a' }),
    ],
    [
      'odd: d a voter beside a, c and d behind',
      move('catchUp'),
      obs({ voters: ['a', 'b', 'c', 'd'], caughtUp: ['a', 'b'] }),
    ],
    [
      'odd: d a voter beside a, a change pending',
      move('rollBack'),
      obs({ voters: ['a', 'b', 'c', 'd'], confChangePending: true }),
    ],
    [
      'odd: joint with a in both halves, a leads',
      move('leaveJoint'),
      obs({ voters: ['a', 'b', 'd'], votersOutgoing: ['a', 'b', 'c'], leader: 'a' }),
    ],
    [
      'odd: joint with a only outgoing, d no voter, a leads',
      move('catchUp'),
      obs({ voters: ['b', 'c', 'e'], votersOutgoing: ['a', 'b', 'c'], leader: 'a' }),
    ],
    [
      'odd: remove a (no target), but joint',
      move('cleanup', 'a', null),
      obs({ voters: ['b', 'c'], votersOutgoing: ['a', 'b', 'c'] }),
    ],
    [
      'odd: joint, no leader',
      move('leaveJoint', 'a', null),
      obs({ voters: ['b', 'c'], votersOutgoing: ['a', 'b', 'c'], leader: null }),
    ],
  ];
  const transcript = cases.map(([label, m, o]) => `${label}: ${show(nextAction(m, o))}`).join('\n');
  assert.equal(
    transcript,
    `addLearner, a leads: transferLeadership → b
addLearner, a leads, the handover stuck past the timeout: rollBack: the leadership did not move from a to b for 60000 ms
addLearner, a leads, nobody else up to date: wait: no up-to-date voter to take over from a
addLearner, b leads: addLearner d
addLearner, no leader: wait: the shard has no leader
addLearner, no leader past the timeout: rollBack: the shard has no leader for 60000 ms
addLearner, d is a learner: stepDone addLearner
catchUp, d before the snapshot: wait: d is catching up (applied 79, leader 100, snapshot 80)
catchUp, d past the snapshot, 21 behind: wait: d is catching up (applied 79, leader 100, snapshot 60)
catchUp, d 20 behind: stepDone catchUp
catchUp, d silent (reports 0 of a young shard): wait: d is catching up (applied 0, leader 12, snapshot 0)
catchUp, stuck past the timeout: rollBack: d made no progress catching up (applied 50, leader 100, snapshot 80) for 60000 ms
catchUp, stuck, a change pending: wait: d is catching up (applied 50, leader 100, snapshot 80)
catchUp, d gone from the shard: rollBack: d is no learner of the shard
reconfigure: reconfigure +d −a (joint)
reconfigure, a leads again: transferLeadership → b
reconfigure, c behind: reconfigure +d −a (joint)
reconfigure, d behind: wait: d is catching up (applied 60, leader 100, snapshot 80)
reconfigure, b and c behind: wait: [b,c,d] would lack a quorum of up-to-date voters (a,d)
reconfigure, change pending: wait: a configuration change is pending
reconfigure, the shard is joint: stepDone reconfigure
leaveJoint, a leads: transferLeadership → b
leaveJoint: leaveJoint
leaveJoint, long past the timeout: leaveJoint
leaveJoint, left: stepDone leaveJoint
leaveJoint, left, c has not applied it: wait: a keeps its copy until [c] applied the configuration without it
cleanup: deleteReplica a
cleanup, a deleted it: done
cleanup, a never answers: done
rollBack, d a learner: removeLearner d
rollBack, its removal pending: wait: a configuration change is pending
rollBack, d gone: done
rollBack, but the shard went joint: stepDone reconfigure
add d (no source), reconfigure: reconfigure +d −-
add d (no source), added: stepDone reconfigure
remove a (no target): reconfigure +- −a
remove a, c behind: wait: [b,c] would lack a quorum of up-to-date voters (a,b)
remove a, removed: stepDone reconfigure
remove a, removed, c silent: wait: a keeps its copy until [c] applied the configuration without it
remove a, rolling back, removed, c silent: wait: a keeps its copy until [c] applied the configuration without it
add d (no source), added, c silent: stepDone reconfigure
reconfigure, the shard is joint, c silent: stepDone reconfigure
R = 1, addLearner: addLearner d
R = 1, catchUp: stepDone catchUp
R = 1, reconfigure: reconfigure +d −a (joint)
R = 1, leaveJoint, a leads: transferLeadership → d
R = 1, leaveJoint, d leads: leaveJoint
odd: d a voter beside a, at catchUp: reconfigure +- −a
odd: d a voter beside a, a leads: transferLeadership → b
odd: d a voter beside a, c and d behind: wait: the shard's configuration fits no step of move 17: voters [a,b,c,d] outgoing [] learners []; [b,c,d] would lack a quorum of up-to-date voters
odd: d a voter beside a, a change pending: wait: the shard's configuration fits no step of move 17: voters [a,b,c,d] outgoing [] learners []; a configuration change is pending
odd: joint with a in both halves, a leads: leaveJoint
odd: joint with a only outgoing, d no voter, a leads: transferLeadership → b
odd: remove a (no target), but joint: leaveJoint
odd: joint, no leader: wait: the shard's configuration fits no step of move 17: voters [b,c] outgoing [a,b,c] learners []; the shard has no leader`,
  );
});

test('the backoff doubles from 10 s per failed attempt, up to 10 min', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 7, 1000].map(moveBackoffMs), [
    0,
    MOVE_BACKOFF_BASE_MS,
    20_000,
    40_000,
    80_000,
    MOVE_BACKOFF_MAX_MS,
    MOVE_BACKOFF_MAX_MS,
  ]);
  assert.throws(() => moveBackoffMs(-1), /failures -1/);
});

/** Random reports about a shard of up to 5 voters, a..e, moving a replica from a (or none) to f (or none). */
const reportArb = fc
  .record({
    // f among the voters too: configurations no step fits (a change from outside the move).
    voters: fc.oneof(fc.subarray(['a', 'b', 'c', 'e', 'g']), fc.subarray(['a', 'b', 'c', 'e', 'f', 'g'])),
    caughtUp: fc.subarray(['a', 'b', 'c', 'e', 'f', 'g']),
    // Weighted towards the reports where a change may be proposed.
    learner: fc.constantFrom(true, true, true, false),
    joint: fc.constantFrom(false, false, false, true),
    leader: fc.constantFrom('a', 'b', 'c', 'e', null),
    leaderApplied: fc.integer({ min: 0, max: 200 }),
    snapshotBehind: fc.integer({ min: 0, max: 60 }),
    learnerBehind: fc.integer({ min: 0, max: 30 }),
    confChangePending: fc.constantFrom(false, false, false, true),
    votersBehind: fc.constantFrom<string[]>([], [], ['c'], ['e', 'g']),
    // The move's change made (source out, target in), where a test asks for it.
    changed: fc.boolean(),
    sinceProgressMs: fc.integer({ min: 0, max: 2 * TIMEOUT }),
    step: fc.constantFrom<MoveStep>(
      'addLearner',
      'catchUp',
      'reconfigure',
      'reconfigure',
      'leaveJoint',
      'cleanup',
      'rollBack',
    ),
    ends: fc.constantFrom<[string | null, string | null]>(['a', 'f'], [null, 'f'], ['a', null]),
  })
  // Only moves the table can hold (shard-table.ts assertValid): the source a voter when the move
  // began; without a target no learner steps; joint only with both ends.
  .filter(
    (r) =>
      (r.voters.includes('a') || r.ends[0] === null) &&
      (r.ends[1] !== null || !['addLearner', 'catchUp', 'leaveJoint'].includes(r.step)) &&
      (r.ends[0] !== null || r.step !== 'leaveJoint'),
  )
  .map(({ snapshotBehind, learnerBehind, ...r }) => ({
    ...r,
    leaderSnapshotIndex: Math.max(0, r.leaderApplied - snapshotBehind),
    learnerApplied: Math.max(0, r.leaderApplied - learnerBehind),
  }));

type Report = typeof reportArb extends fc.Arbitrary<infer R> ? R : never;

/**
 * The move and the shard's report a drawn report stands for; with `changed`, the move's own change
 * made when the report says so (the source out, the target a voter).
 */
function drawn(r: Report, changed = false): { m: Move; o: ShardObservation } {
  const [source, target] = r.ends;
  const m: Move = { ...move(r.step, source, target), votersBefore: [...r.voters].sort() };
  const made = changed && r.changed;
  const voters = made
    ? [...r.voters.filter((v) => v !== source && v !== target), ...(target === null ? [] : [target])]
    : r.voters;
  const o = obs({
    ...r,
    voters,
    learners: r.learner && target !== null && !made ? [target] : [],
    votersOutgoing: r.joint ? ['a', 'b', 'c'] : [],
  });
  return { m, o };
}

test('a configuration change is proposed only with a quorum of up-to-date voters in every configuration it leads to', () => {
  let proposed = 0;
  let reshaped = 0;
  fc.assert(
    fc.property(reportArb, (r) => {
      const [source, target] = r.ends;
      const { m, o } = drawn(r);
      const a = nextAction(m, o);
      if (a.kind !== 'reconfigure') return;
      proposed++;
      assert.ok(!o.confChangePending, 'proposed while a change is pending');
      // The source leads only as the shard's only voter (R = 1): nobody to hand over to before.
      const onlyVoter = o.voters.length === 1 && o.voters[0] === source && o.votersOutgoing.length === 0;
      assert.ok(o.leader !== null && (o.leader !== source || onlyVoter), `proposed with leader ${o.leader}`);
      const upToDate = new Set(o.caughtUp);
      if (a.addVoter !== null) {
        assert.equal(a.addVoter, target);
        assert.ok(
          learnerCaughtUp(o, a.addVoter),
          `promoted ${a.addVoter} at ${o.learnerApplied} of ${o.leaderApplied}`,
        );
        upToDate.add(a.addVoter);
      } else if (target !== null && o.voters.includes(target)) {
        reshaped++;
      }
      const next = o.voters.filter((v) => v !== a.removeVoter);
      if (a.addVoter !== null) next.push(a.addVoter);
      assert.ok(hasQuorum(o.voters, upToDate), `old [${o.voters}] up to date [${[...upToDate]}]`);
      assert.ok(hasQuorum(next, upToDate), `new [${next}] up to date [${[...upToDate]}]`);
    }),
    { numRuns: 6000 },
  );
  assert.ok(proposed > 60, `only ${proposed} reconfigurations proposed`);
  assert.ok(reshaped > 10, `only ${reshaped} configurations reshaped`);
});

test("a move's step into cleanup is recorded only once no voter is behind the configuration without the source", () => {
  let intoCleanup = 0;
  let held = 0;
  fc.assert(
    fc.property(reportArb, (r) => {
      const { m, o } = drawn(r, true);
      const a = nextAction(m, o);
      if (a.kind === 'wait' && a.reason.includes('keeps its copy')) held++;
      if (a.kind !== 'stepDone' || m.source === null || stepAfter(m, a.step) !== 'cleanup') return;
      intoCleanup++;
      assert.deepEqual(o.votersBehind, [], `${a.step} done with [${o.votersBehind}] behind`);
    }),
    { numRuns: 4000 },
  );
  assert.ok(intoCleanup > 20 && held > 20, `into cleanup ${intoCleanup}, held ${held}`);
});

test('past reconfigure a move never rolls back; before it, never while a change is pending', () => {
  fc.assert(
    fc.property(reportArb, (r) => {
      const { m, o } = drawn(r);
      const a = nextAction(m, o);
      if (a.kind !== 'rollBack') return;
      assert.ok(['addLearner', 'catchUp', 'reconfigure'].includes(r.step), `rolled back at ${r.step}`);
      if (a.reason.includes(' ms')) assert.ok(!o.confChangePending && o.sinceProgressMs >= TIMEOUT, a.reason);
    }),
    { numRuns: 2000 },
  );
});
