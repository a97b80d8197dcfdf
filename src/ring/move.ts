// The move state machine: what to do next to move one replica of one shard from `source` to
// `target`, given the move as the shard table records it and what the shard reports now. Pure: the
// caller (the rebalancer on the metadata leader) performs the action, records what it returns as
// table operations, and asks again. Since every answer is computed from the table and the shard's
// own report, a new metadata leader resumes (or rolls back) a move from the table alone.
//
// The steps (shard-table.ts MoveStep), and what ends each:
//   addLearner   the target is added as a learner             → it shows in the shard's learners
//   catchUp      the learner receives a snapshot and the log  → the leader reports it current, and
//                                                                it applied the leader's snapshot and
//                                                                is within catchUpEntriesMax of the
//                                                                leader's applied index
//   reconfigure  enter joint consensus: target in, source out → the shard is joint (or, with only a
//                (a simple change when one end is missing)       target or only a source, changed)
//   leaveJoint   leave the joint configuration                → the shard is no longer joint
//   cleanup      the source deletes its copy of the data      → the caller says the data is gone
// The step into cleanup is recorded only once every voter of the new configuration (but members
// marked down) applied it: until a voter has, its elections still count the source's vote
// (sourceMayGo).
// Before reconfigure, and while joint, a source that leads the shard first hands its leadership to
// an up-to-date voter that stays.
// A configuration that fits no step (a change from outside the move landed) is reshaped until one
// fits: a joint configuration is left, a source voting beside the target is removed (reshape).
//
// Safety: a configuration change is proposed only when every configuration it leads to has a
// quorum of up-to-date voters (reported `caughtUp` by the leader; the learner counts only once it
// caught up), and only when no other change is pending. A step that makes no progress within
// stepTimeoutMs before the new voters are in rolls back (the learner is removed; the planner retries
// later, after moveBackoffMs); from joint consensus on, the only way is forward.

import { ringAssert } from './errors.ts';
import { type Move, type MoveStep, type ShardEntry, stepAfter } from './shard-table.ts';

/** What the shard reports, through its leader (and the caller's clock). */
export interface ShardObservation {
  /** The applied configuration: voters (the incoming half while joint), outgoing half, learners. */
  readonly voters: readonly string[];
  readonly votersOutgoing: readonly string[];
  readonly learners: readonly string[];
  /** The shard's leader; null when it has none (or the caller cannot reach it). */
  readonly leader: string | null;
  readonly leaderApplied: number;
  /** The index of the leader's latest snapshot: a learner below it cannot catch up from the log. */
  readonly leaderSnapshotIndex: number;
  /** The target's applied index (0 when it has none or does not answer). */
  readonly learnerApplied: number;
  /**
   * Voters and learners the leader reports up to date: recently active, and matching its log within
   * the catch-up bound. The leader itself included.
   */
  readonly caughtUp: readonly string[];
  /**
   * A configuration change proposed and not yet applied by the leader (its pending conf index is
   * above its applied index). While true, a change proposed earlier may still take effect.
   */
  readonly confChangePending: boolean;
  /** The source no longer holds the shard's data: it said it deleted it, or it is down or removed
   * (it deletes the data when it learns it is no member of the shard). */
  readonly sourceDataGone: boolean;
  /**
   * Once the source is out of the applied configuration: its voters, other than the leader and
   * members marked down, that have not applied that configuration themselves (by their own report;
   * one that does not answer counts). Empty while the source is still in it.
   */
  readonly votersBehind: readonly string[];
  /** Time since the step began or the learner's applied index last advanced, whichever is later. */
  readonly sinceProgressMs: number;
}

export interface MoveLimits {
  /** A learner within this many entries of the leader's applied index is caught up. */
  readonly catchUpEntriesMax: number;
  /** A step before the new voters are in that makes no progress for this long rolls back. */
  readonly stepTimeoutMs: number;
}

export const MOVE_LIMITS_DEFAULT: MoveLimits = { catchUpEntriesMax: 20, stepTimeoutMs: 60_000 };

export const MOVE_BACKOFF_BASE_MS = 10_000;
export const MOVE_BACKOFF_MAX_MS = 10 * 60_000;

export type MoveAction =
  | { readonly kind: 'transferLeadership'; readonly to: string }
  | { readonly kind: 'addLearner'; readonly node: string }
  /** One voter in and one out through joint consensus, or one of them as a simple change. */
  | {
      readonly kind: 'reconfigure';
      readonly addVoter: string | null;
      readonly removeVoter: string | null;
      readonly joint: boolean;
    }
  | { readonly kind: 'leaveJoint' }
  | { readonly kind: 'removeLearner'; readonly node: string }
  | { readonly kind: 'deleteReplica'; readonly node: string }
  | { readonly kind: 'wait'; readonly reason: string }
  /** The shard did `step`: record it (table op moveStepDone) and ask again. */
  | { readonly kind: 'stepDone'; readonly step: MoveStep }
  /** Give up (table op abortMove with the reason); asking again then removes the learner. */
  | { readonly kind: 'rollBack'; readonly reason: string }
  /** The move is over, done or undone (table op finishMove). */
  | { readonly kind: 'done' };

type Phase = 'before' | 'learner' | 'joint' | 'after' | 'odd';

/** The next thing to do for `move`, given what its shard reports. */
export function nextAction(
  move: Move,
  o: ShardObservation,
  limits: MoveLimits = MOVE_LIMITS_DEFAULT,
): MoveAction {
  ringAssert(
    limits.catchUpEntriesMax >= 0 && limits.stepTimeoutMs > 0,
    () => `move limits ${JSON.stringify(limits)}`,
  );
  ringAssert(o.sinceProgressMs >= 0, () => `move ${move.id}: sinceProgressMs ${o.sinceProgressMs}`);
  const phase = phaseOf(move, o);
  if (phase === 'odd') return reshape(move, o);
  const a = actionAt(move, o, limits, phase);
  if (a.kind === 'stepDone' && move.source !== null && stepAfter(move, a.step) === 'cleanup') {
    return sourceMayGo(move.source, o) ?? a;
  }
  return a;
}

function actionAt(move: Move, o: ShardObservation, limits: MoveLimits, phase: Phase): MoveAction {
  switch (move.step) {
    case 'addLearner':
      if (phase !== 'before') return { kind: 'stepDone', step: 'addLearner' };
      return guardBeforeJoint(move, o, limits) ?? { kind: 'addLearner', node: targetOf(move) };
    case 'catchUp':
      return catchUp(move, o, limits, phase);
    case 'reconfigure':
      return reconfigure(move, o, limits, phase);
    case 'leaveJoint':
      return leaveJoint(move, o, phase);
    case 'cleanup':
      if (move.source === null || o.sourceDataGone) return { kind: 'done' };
      // The source is a member of the shard no more; if it never confirms, it deletes the data
      // when it learns that, and the move must not hold one of the K slots forever.
      if (o.sinceProgressMs >= limits.stepTimeoutMs) return { kind: 'done' };
      return { kind: 'deleteReplica', node: move.source };
    case 'rollBack':
      return rollBack(move, o, phase);
  }
}

/**
 * The source may delete its copy (the move may record its step into cleanup) once every voter of
 * the configuration without it applied that configuration, members marked down excepted. A voter
 * learns that a configuration change committed only when it applies it, and until then it campaigns
 * under the configuration before, which may need the source's vote: the leader that applied the
 * change may fail for good before telling it, and with the source's data gone, no leader could be
 * elected again (`ringkv sim --nodes 4`, seed 979428: the leader of shard 4 left the joint
 * configuration and died with a corrupt disk; the one other voter that had the entry had not
 * learned it was committed, and needed the deleted source's vote). A voter marked down is not waited
 * for: the others applied the configuration and elect without it, and it learns the configuration
 * from their leader when it comes back.
 */
function sourceMayGo(source: string, o: ShardObservation): MoveAction | undefined {
  if (o.votersBehind.length === 0) return undefined;
  return {
    kind: 'wait',
    reason: `${source} keeps its copy until [${o.votersBehind}] applied the configuration without it`,
  };
}

/** The delay before a shard whose last `failures` moves rolled back may move again. */
export function moveBackoffMs(failures: number): number {
  ringAssert(Number.isInteger(failures) && failures >= 0, () => `failures ${failures}`);
  if (failures === 0) return 0;
  // Bounded exponent: 2^6 × 10 s is past the cap already.
  return Math.min(MOVE_BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 16), MOVE_BACKOFF_MAX_MS);
}

/** When the shard may begin its next move, by the caller's clock. */
export function retryAtMs(shard: ShardEntry): number {
  return shard.moveFailures === 0 ? 0 : shard.lastFailureAtMs + moveBackoffMs(shard.moveFailures);
}

/**
 * Whether the learner may be promoted: the leader hears from it and matches it within the bound,
 * and it has applied the leader's snapshot and is close behind. (Its applied index alone is not
 * enough: one that stopped answering reports 0, which is "close behind" a shard of few entries.)
 */
export function learnerCaughtUp(
  o: ShardObservation,
  learner: string,
  limits: MoveLimits = MOVE_LIMITS_DEFAULT,
): boolean {
  return (
    o.caughtUp.includes(learner) &&
    o.learnerApplied >= o.leaderSnapshotIndex &&
    o.leaderApplied - o.learnerApplied <= limits.catchUpEntriesMax
  );
}

/** Whether `voters` has a majority of members in `upToDate`. */
export function hasQuorum(voters: readonly string[], upToDate: ReadonlySet<string>): boolean {
  let n = 0;
  for (const v of voters) if (upToDate.has(v)) n++;
  return voters.length > 0 && n > voters.length / 2;
}

// ---- the steps ----------------------------------------------------------------------------------------

function catchUp(move: Move, o: ShardObservation, limits: MoveLimits, phase: Phase): MoveAction {
  if (phase === 'joint' || phase === 'after') return { kind: 'stepDone', step: 'catchUp' };
  if (phase === 'before') return { kind: 'rollBack', reason: `${targetOf(move)} is no learner of the shard` };
  const guard = guardBeforeJoint(move, o, limits);
  if (guard !== undefined) return guard;
  if (learnerCaughtUp(o, targetOf(move), limits)) return { kind: 'stepDone', step: 'catchUp' };
  return (
    timeout(o, limits, `${targetOf(move)} made no progress catching up (${progress(o)})`) ?? {
      kind: 'wait',
      reason: `${targetOf(move)} is catching up (${progress(o)})`,
    }
  );
}

function reconfigure(move: Move, o: ShardObservation, limits: MoveLimits, phase: Phase): MoveAction {
  if (phase === 'joint' || phase === 'after') return { kind: 'stepDone', step: 'reconfigure' };
  if (move.target !== null && phase === 'before') {
    return { kind: 'rollBack', reason: `${move.target} is no learner of the shard` };
  }
  const guard = guardBeforeJoint(move, o, limits);
  if (guard !== undefined) return guard;
  if (o.confChangePending) return { kind: 'wait', reason: 'a configuration change is pending' };
  // The learner counts only by learnerCaughtUp (the leader may count it current by its log while it
  // has not applied the snapshot yet), and only a caught-up learner is promoted.
  const upToDate = new Set(o.caughtUp.filter((v) => v !== move.target));
  if (move.target !== null) {
    if (!learnerCaughtUp(o, move.target, limits)) {
      return (
        timeout(o, limits, `${move.target} fell behind (${progress(o)})`) ?? {
          kind: 'wait',
          reason: `${move.target} is catching up (${progress(o)})`,
        }
      );
    }
    upToDate.add(move.target);
  }
  const after = o.voters.filter((v) => v !== move.source);
  if (move.target !== null) after.push(move.target);
  if (!hasQuorum(o.voters, upToDate) || !hasQuorum(after, upToDate)) {
    return (
      timeout(o, limits, `no quorum of up-to-date voters for [${after}]`) ?? {
        kind: 'wait',
        reason: `[${after}] would lack a quorum of up-to-date voters (${[...upToDate]})`,
      }
    );
  }
  const joint = move.source !== null && move.target !== null;
  return { kind: 'reconfigure', addVoter: move.target, removeVoter: move.source, joint };
}

function leaveJoint(move: Move, o: ShardObservation, phase: Phase): MoveAction {
  if (phase === 'after') return { kind: 'stepDone', step: 'leaveJoint' };
  if (phase !== 'joint')
    return { kind: 'wait', reason: `move ${move.id} expects a joint configuration: ${show(o)}` };
  if (o.leader === null) return { kind: 'wait', reason: 'the shard has no leader' };
  if (o.confChangePending) return { kind: 'wait', reason: 'a configuration change is pending' };
  // Leaving would take the leader out: hand over to a voter that stays (no election to wait for).
  if (o.leader === move.source) {
    const to = heir(o, move.source);
    if (to !== undefined) return { kind: 'transferLeadership', to };
  }
  return { kind: 'leaveJoint' };
}

function rollBack(move: Move, o: ShardObservation, phase: Phase): MoveAction {
  // A change proposed before the rollback began took effect: the move can only go forward.
  if (phase === 'joint' || phase === 'after') return { kind: 'stepDone', step: 'reconfigure' };
  if (o.confChangePending) return { kind: 'wait', reason: 'a configuration change is pending' };
  if (phase === 'learner') {
    if (o.leader === null) return { kind: 'wait', reason: 'the shard has no leader' };
    return { kind: 'removeLearner', node: targetOf(move) };
  }
  return { kind: 'done' };
}

/**
 * The shard's configuration fits no step of the move: a change from outside the move landed (a
 * stale proposal that no basis check stopped), and waiting would hold the move, and one of the K
 * slots, for good. The shard is brought to a shape that a step fits: a joint configuration is left
 * (the only way out of one; its leader handing over first when it is in the outgoing half alone),
 * and a source that votes beside a target already voting is removed, as the move's own change
 * would have, under the same quorum rule. Never while another change is pending.
 */
function reshape(move: Move, o: ShardObservation): MoveAction {
  const odd = `the shard's configuration fits no step of move ${move.id}: ${show(o)}`;
  if (o.leader === null) return { kind: 'wait', reason: `${odd}; the shard has no leader` };
  if (o.confChangePending) return { kind: 'wait', reason: `${odd}; a configuration change is pending` };
  if (o.votersOutgoing.length > 0) {
    if (!o.voters.includes(o.leader)) {
      const to = heir(o, o.leader);
      if (to !== undefined) return { kind: 'transferLeadership', to };
    }
    return { kind: 'leaveJoint' };
  }
  const source = move.source;
  ringAssert(
    source !== null && move.target !== null && o.voters.includes(source) && o.voters.includes(move.target),
    () => `move ${move.id} from ${source} to ${move.target}: not joint, yet ${odd}`,
  );
  if (o.leader === source) {
    const to = heir(o, source);
    if (to !== undefined) return { kind: 'transferLeadership', to };
    return { kind: 'wait', reason: `${odd}; no up-to-date voter to take over from ${source}` };
  }
  const upToDate = new Set(o.caughtUp);
  const after = o.voters.filter((v) => v !== source);
  if (!hasQuorum(o.voters, upToDate) || !hasQuorum(after, upToDate)) {
    return { kind: 'wait', reason: `${odd}; [${after}] would lack a quorum of up-to-date voters` };
  }
  return { kind: 'reconfigure', addVoter: null, removeVoter: source, joint: false };
}

/**
 * Before the new voters are in: a shard without a leader cannot change, and a source that leads
 * hands its leadership away first, unless it is the shard's only voter (R = 1): then it leads the
 * joint configuration, and hands over to the target, a voter by then, before leaving it
 * (leaveJoint). Undefined when neither holds.
 */
function guardBeforeJoint(move: Move, o: ShardObservation, limits: MoveLimits): MoveAction | undefined {
  if (o.leader === null) {
    return (
      timeout(o, limits, 'the shard has no leader') ?? { kind: 'wait', reason: 'the shard has no leader' }
    );
  }
  if (o.leader !== move.source) return undefined;
  if (o.voters.every((v) => v === move.source) && o.votersOutgoing.length === 0) return undefined;
  const to = heir(o, move.source);
  if (to !== undefined) {
    // A handover that never completes (the voter does not take the leadership) must not hold the
    // move, and one of the K slots, forever.
    return (
      timeout(o, limits, `the leadership did not move from ${move.source} to ${to}`) ?? {
        kind: 'transferLeadership',
        to,
      }
    );
  }
  return (
    timeout(o, limits, `no up-to-date voter to take over from ${move.source}`) ?? {
      kind: 'wait',
      reason: `no up-to-date voter to take over from ${move.source}`,
    }
  );
}

/** A rollback when the step is past its timeout and no change is pending (one could still land). */
function timeout(o: ShardObservation, limits: MoveLimits, reason: string): MoveAction | undefined {
  if (o.sinceProgressMs < limits.stepTimeoutMs || o.confChangePending) return undefined;
  return { kind: 'rollBack', reason: `${reason} for ${o.sinceProgressMs} ms` };
}

/** Where the shard is with respect to the move, from its reported configuration alone. */
function phaseOf(move: Move, o: ShardObservation): Phase {
  const joint = o.votersOutgoing.length > 0;
  const sourceIn = move.source !== null && o.voters.includes(move.source);
  if (move.target === null) {
    if (joint) return 'odd';
    return sourceIn ? 'before' : 'after';
  }
  if (o.voters.includes(move.target)) {
    if (joint) return sourceIn ? 'odd' : 'joint';
    return sourceIn ? 'odd' : 'after';
  }
  if (joint) return 'odd';
  return o.learners.includes(move.target) ? 'learner' : 'before';
}

/** A voter (of the incoming half, while joint) the leader reports up to date, other than `leaving`. */
function heir(o: ShardObservation, leaving: string | null): string | undefined {
  return o.voters.find((v) => v !== leaving && o.caughtUp.includes(v));
}

function targetOf(move: Move): string {
  ringAssert(move.target !== null, () => `move ${move.id} at ${move.step} has no target`);
  return move.target;
}

function progress(o: ShardObservation): string {
  return `applied ${o.learnerApplied}, leader ${o.leaderApplied}, snapshot ${o.leaderSnapshotIndex}`;
}

function show(o: ShardObservation): string {
  return `voters [${o.voters}] outgoing [${o.votersOutgoing}] learners [${o.learners}]`;
}
