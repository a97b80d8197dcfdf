// The shard table: the cluster's members, its settings and every data shard's replicas with the
// move in flight on it, as the metadata group holds them. A table is an immutable value; every
// change is a numbered operation applied by `apply(table, op)`, which returns the next table or
// refuses the operation (ShardTableError, the table unchanged). Operations are numbered by the
// caller in the order it applies them (the metadata log's index does): an operation whose number
// is not above the last applied one is a replay and changes nothing, so re-applying a log is safe.
//
// The table records what the shards have done, one step of a move at a time (move.ts decides the
// steps): a shard's voters and learners here are those of its last recorded configuration, and the
// epoch counts its changes. `assertValid` checks every invariant written beside the fields; `apply`
// refuses whatever would break one, and asserts the result.
import { ringAssert, ShardTableError } from './errors.ts';
import { MEMBERS_MAX } from './hash-ring.ts';
import {
  type Placement,
  place,
  REPLICATION_FACTOR_MAX,
  type RingMember,
  SHARD_COUNT_MAX,
} from './placement.ts';
import { SLOT_COUNT, slotRange } from './slots.ts';

/**
 * joining: recorded, not yet serving (gets no replicas). up: holds and receives replicas.
 * draining: its replicas move away (`cluster leave`). down: unreachable past the dead-node timeout,
 * its replicas are re-created elsewhere. removed: gone for good; it holds nothing, and its id stays
 * so that a node coming back under it learns it was removed.
 */
export type MemberState = 'joining' | 'up' | 'draining' | 'down' | 'removed';
export const MEMBER_STATES: readonly MemberState[] = ['joining', 'up', 'draining', 'down', 'removed'];

/** The states a member may go to from each state (a state to itself is allowed and changes nothing). */
const TRANSITIONS: Readonly<Record<MemberState, readonly MemberState[]>> = {
  joining: ['up', 'removed'],
  up: ['draining', 'down'],
  draining: ['up', 'down', 'removed'],
  down: ['up', 'draining', 'removed'],
  removed: [],
};

export interface MemberAddress {
  /** Invariant: 1..NODE_ID_CHARS_MAX characters. */
  readonly nodeId: string;
  /** Failure domain; '' for none (the member is a domain of its own). */
  readonly zone: string;
  readonly clientAddr: string;
  readonly raftAddr: string;
}

export interface Member extends MemberAddress {
  readonly state: MemberState;
}

export interface ClusterSettings {
  /** Data shards 1..shardCount. Fixed when the cluster is created (shards are not split). */
  readonly shardCount: number;
  /** Voters per shard wanted (fewer when fewer members are up). */
  readonly replicationFactor: number;
  /** How long a member may be unreachable before it is marked down and replaced. */
  readonly deadNodeTimeoutMs: number;
  /** K: moves in flight in the whole cluster at most. */
  readonly movesInFlightMax: number;
  /**
   * Keys hash by their `{tag}` (slots.ts). Fixed when the cluster is created: true for clusters this
   * build creates; absent (false) in tables written before hash tags, whose keys the whole-key hash
   * placed, so that they stay where they are.
   */
  readonly hashTags?: boolean;
}

export const DEAD_NODE_TIMEOUT_MS_DEFAULT = 5 * 60_000;
export const DEAD_NODE_TIMEOUT_MS_MIN = 1_000;
export const DEAD_NODE_TIMEOUT_MS_MAX = 7 * 24 * 3_600_000;
/**
 * Most voters of the metadata group; the members beyond are its learners (src/node/metadata-voters.ts).
 * Here, beside the table, so that the client's cluster view knows it too.
 */
export const METADATA_VOTERS_MAX = 5;
export const MOVES_IN_FLIGHT_DEFAULT = 2;
export const MOVES_IN_FLIGHT_MAX = 64;
export const NODE_ID_CHARS_MAX = 128;
export const ADDRESS_CHARS_MAX = 256;
export const REASON_CHARS_MAX = 256;

/**
 * A move's steps, in order (move.ts says what each waits for):
 *   addLearner → catchUp → reconfigure → leaveJoint (only when a voter goes out as another comes
 *   in) → cleanup; any of the first three may turn to rollBack, which ends the move undone.
 * A move with no target (a shard above R) starts at reconfigure; one with no source (a shard below
 * R) has nothing to clean up.
 */
export type MoveStep = 'addLearner' | 'catchUp' | 'reconfigure' | 'leaveJoint' | 'cleanup' | 'rollBack';

/** One replica of one shard moving from `source` to `target`. */
export interface Move {
  /** The number of the operation that began it. */
  readonly id: number;
  /** The voter that leaves; null when the shard only gains one. Invariant: source ∈ votersBefore. */
  readonly source: string | null;
  /** The member that gains a replica; null when the shard only loses one. Invariant: ∉ votersBefore. */
  readonly target: string | null;
  readonly step: MoveStep;
  /** The shard's voters when the move began (C_old). Sorted. */
  readonly votersBefore: readonly string[];
  /** Set when the move turned to rollBack: why, and the caller's clock then (for the backoff). */
  readonly rollBack: { readonly reason: string; readonly atMs: number } | null;
}

export interface ShardEntry {
  readonly shardId: number;
  /** The slots the shard owns, inclusive (slots.ts `slotRange`). */
  readonly slotFirst: number;
  readonly slotLast: number;
  /**
   * The voters of the last recorded configuration (the incoming half while joint). Sorted, distinct,
   * at least one. Invariant: equal to what `expectedConfig(move)` says for the move's step.
   */
  readonly voters: readonly string[];
  /** The outgoing half of a joint configuration. Invariant: non-empty iff move.step = leaveJoint. */
  readonly votersOutgoing: readonly string[];
  /** Invariant: empty, or [move.target] in steps catchUp, reconfigure and rollBack. */
  readonly learners: readonly string[];
  /** Invariant: at most one move per shard; null when none is in flight. */
  readonly move: Move | null;
  /** Bumped on every change of voters, votersOutgoing or learners. */
  readonly epoch: number;
  /** Moves of this shard rolled back since the last one that finished (for the backoff). */
  readonly moveFailures: number;
  /** The caller's clock when the last rollback began; 0 when moveFailures = 0. */
  readonly lastFailureAtMs: number;
}

export interface ShardTable {
  /** The number of the last operation applied (0: none). Operations are numbered upward. */
  readonly lastOp: number;
  /** Invariant: valid once initialised (shardCount 0 before). */
  readonly settings: ClusterSettings;
  /** Sorted by nodeId, ids distinct, at most MEMBERS_MAX (removed ones included). */
  readonly members: readonly Member[];
  /** shards[i] is shard i + 1. Invariant: shardCount of them, slot ranges covering every slot. */
  readonly shards: readonly ShardEntry[];
}

export type SettingsChange = Partial<Omit<ClusterSettings, 'shardCount' | 'hashTags'>>;

/** The closed set of changes. `n`: the operation's number (the caller's log index). */
export type TableOp = { readonly n: number } & (
  | { readonly kind: 'init'; readonly settings: ClusterSettings; readonly members: readonly MemberAddress[] }
  | { readonly kind: 'addMember'; readonly member: MemberAddress }
  | { readonly kind: 'setMemberState'; readonly nodeId: string; readonly state: MemberState }
  | {
      readonly kind: 'setMemberAddresses';
      readonly nodeId: string;
      readonly clientAddr: string;
      readonly raftAddr: string;
    }
  | { readonly kind: 'setSettings'; readonly change: SettingsChange }
  | {
      readonly kind: 'beginMove';
      readonly shard: number;
      readonly source: string | null;
      readonly target: string | null;
    }
  /** The shard did `step` (move.ts saw it): record the configuration of the next step. */
  | {
      readonly kind: 'moveStepDone';
      readonly shard: number;
      readonly moveId: number;
      readonly step: MoveStep;
    }
  /** Turn the move to rollBack (move.ts found no progress within its timeout). */
  | {
      readonly kind: 'abortMove';
      readonly shard: number;
      readonly moveId: number;
      readonly reason: string;
      readonly atMs: number;
    }
  /** End a move in cleanup (done) or rollBack (undone: the learner is gone). */
  | { readonly kind: 'finishMove'; readonly shard: number; readonly moveId: number }
  /**
   * The shard's voters changed outside a move: while the cluster has at most R members every member
   * is admitted to (or removed from) every shard at once, as a join or a leave, and the node records
   * the configuration the shard applied. Refused while the shard has a move in flight.
   */
  | { readonly kind: 'setShardVoters'; readonly shard: number; readonly voters: readonly string[] }
);

export const EMPTY_TABLE: ShardTable = {
  lastOp: 0,
  settings: { shardCount: 0, replicationFactor: 0, deadNodeTimeoutMs: 0, movesInFlightMax: 0 },
  members: [],
  shards: [],
};

/** The next table, or ShardTableError. A replayed operation (n ≤ lastOp) returns `table` itself. */
export function apply(table: ShardTable, op: TableOp): ShardTable {
  if (!Number.isSafeInteger(op.n) || op.n < 1) {
    throw new ShardTableError('badSettings', op.n, `operation numbers are positive integers`, { n: op.n });
  }
  if (op.n <= table.lastOp) return table;
  if (op.kind !== 'init' && table.shards.length === 0) {
    throw new ShardTableError('notInitialised', op.n, `${op.kind} before init`);
  }
  const next = { ...applyOp(table, op), lastOp: op.n };
  assertValid(next);
  return next;
}

function applyOp(t: ShardTable, op: TableOp): Omit<ShardTable, 'lastOp'> {
  switch (op.kind) {
    case 'init':
      return init(t, op.n, op.settings, op.members);
    case 'addMember':
      return addMember(t, op.n, op.member);
    case 'setMemberState':
      return setMemberState(t, op.n, op.nodeId, op.state);
    case 'setMemberAddresses': {
      const m = memberOrThrow(t, op.n, op.nodeId);
      checkAddress(op.n, { ...m, clientAddr: op.clientAddr, raftAddr: op.raftAddr });
      return withMember(t, { ...m, clientAddr: op.clientAddr, raftAddr: op.raftAddr });
    }
    case 'setSettings':
      return { ...t, settings: changeSettings(t, op.n, op.change) };
    case 'beginMove':
      return beginMove(t, op.n, op.shard, op.source, op.target);
    case 'moveStepDone':
      return moveStepDone(t, op.n, op.shard, op.moveId, op.step);
    case 'abortMove':
      return abortMove(t, op.n, op.shard, op.moveId, op.reason, op.atMs);
    case 'finishMove':
      return finishMove(t, op.n, op.shard, op.moveId);
    case 'setShardVoters':
      return setShardVoters(t, op.n, op.shard, op.voters);
  }
}

// ---- members and settings ---------------------------------------------------------------------------

function init(
  t: ShardTable,
  n: number,
  settings: ClusterSettings,
  addresses: readonly MemberAddress[],
): Omit<ShardTable, 'lastOp'> {
  if (t.shards.length > 0)
    throw new ShardTableError('alreadyInitialised', n, `${t.shards.length} shards exist`);
  checkSettings(n, settings, 0);
  if (addresses.length === 0)
    throw new ShardTableError('badMember', n, 'a cluster starts with at least one member');
  if (addresses.length > MEMBERS_MAX) {
    throw new ShardTableError('membersMax', n, `${addresses.length} members`, { max: MEMBERS_MAX });
  }
  for (const a of addresses) checkAddress(n, a);
  const members = sortMembers(addresses.map((a) => ({ ...a, state: 'up' as const })));
  for (let i = 1; i < members.length; i++) {
    const id = (members[i] as Member).nodeId;
    if (id === (members[i - 1] as Member).nodeId) throw new ShardTableError('memberExists', n, `${id} twice`);
  }
  const placement = place(new Map(), ringMembers(members), settings);
  const shards: ShardEntry[] = [];
  for (let s = 1; s <= settings.shardCount; s++) {
    const { first, last } = slotRange(s, settings.shardCount);
    shards.push({
      shardId: s,
      slotFirst: first,
      slotLast: last,
      voters: [...(placement.get(s) ?? [])].sort(),
      votersOutgoing: [],
      learners: [],
      move: null,
      epoch: 1,
      moveFailures: 0,
      lastFailureAtMs: 0,
    });
  }
  return { settings, members, shards };
}

function addMember(t: ShardTable, n: number, a: MemberAddress): Omit<ShardTable, 'lastOp'> {
  checkAddress(n, a);
  const held = t.members.find((m) => m.nodeId === a.nodeId);
  if (held !== undefined) {
    const same = held.zone === a.zone && held.clientAddr === a.clientAddr && held.raftAddr === a.raftAddr;
    // A join retried after its reply was lost: nothing to change.
    if (same && held.state !== 'removed') return t;
    throw new ShardTableError('memberExists', n, `node id ${a.nodeId} is taken (${held.state})`, {
      nodeId: a.nodeId,
      state: held.state,
    });
  }
  if (t.members.length >= MEMBERS_MAX) {
    throw new ShardTableError('membersMax', n, `the table holds ${t.members.length} members`, {
      max: MEMBERS_MAX,
    });
  }
  return { ...t, members: sortMembers([...t.members, { ...a, state: 'joining' }]) };
}

function setMemberState(
  t: ShardTable,
  n: number,
  nodeId: string,
  state: MemberState,
): Omit<ShardTable, 'lastOp'> {
  const m = memberOrThrow(t, n, nodeId);
  if (m.state === state) return t;
  if (!MEMBER_STATES.includes(state) || !TRANSITIONS[m.state].includes(state)) {
    throw new ShardTableError('badTransition', n, `${nodeId} cannot go from ${m.state} to ${String(state)}`, {
      nodeId,
      from: m.state,
      to: String(state),
    });
  }
  if (state === 'removed') {
    const holding = t.shards.filter((s) => replicasOf(s).includes(nodeId)).map((s) => s.shardId);
    if (holding.length > 0) {
      throw new ShardTableError(
        'memberHoldsReplicas',
        n,
        `${nodeId} still holds shards ${holding.join(',')}`,
        {
          nodeId,
          shards: holding.length,
        },
      );
    }
  }
  return withMember(t, { ...m, state });
}

function changeSettings(t: ShardTable, n: number, change: SettingsChange): ClusterSettings {
  const settings: ClusterSettings = {
    shardCount: t.settings.shardCount,
    replicationFactor: change.replicationFactor ?? t.settings.replicationFactor,
    deadNodeTimeoutMs: change.deadNodeTimeoutMs ?? t.settings.deadNodeTimeoutMs,
    movesInFlightMax: change.movesInFlightMax ?? t.settings.movesInFlightMax,
    ...(t.settings.hashTags === true ? { hashTags: true } : {}),
  };
  checkSettings(n, settings, movesInFlight(t));
  return settings;
}

function checkSettings(n: number, s: ClusterSettings, inFlight: number): void {
  const bad = (what: string, v: number, lo: number, hi: number): void => {
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new ShardTableError('badSettings', n, `${what} must be an integer in [${lo}, ${hi}], got ${v}`, {
        [what]: v,
      });
    }
  };
  bad('shardCount', s.shardCount, 1, Math.min(SHARD_COUNT_MAX, SLOT_COUNT));
  bad('replicationFactor', s.replicationFactor, 1, REPLICATION_FACTOR_MAX);
  bad('deadNodeTimeoutMs', s.deadNodeTimeoutMs, DEAD_NODE_TIMEOUT_MS_MIN, DEAD_NODE_TIMEOUT_MS_MAX);
  // Not below the moves already in flight: the bound holds at all times, not only for new moves.
  bad('movesInFlightMax', s.movesInFlightMax, Math.max(1, inFlight), MOVES_IN_FLIGHT_MAX);
}

function checkAddress(n: number, a: MemberAddress): void {
  const fields: [string, string, number, number][] = [
    ['nodeId', a.nodeId, 1, NODE_ID_CHARS_MAX],
    ['zone', a.zone, 0, NODE_ID_CHARS_MAX],
    ['clientAddr', a.clientAddr, 0, ADDRESS_CHARS_MAX],
    ['raftAddr', a.raftAddr, 0, ADDRESS_CHARS_MAX],
  ];
  for (const [name, v, lo, hi] of fields) {
    if (typeof v !== 'string' || v.length < lo || v.length > hi) {
      throw new ShardTableError('badMember', n, `${name} must be ${lo} to ${hi} characters`, {
        [name]: typeof v === 'string' ? v.slice(0, 40) : null,
      });
    }
  }
}

// ---- moves ------------------------------------------------------------------------------------------

function beginMove(
  t: ShardTable,
  n: number,
  shardId: number,
  source: string | null,
  target: string | null,
): Omit<ShardTable, 'lastOp'> {
  const shard = shardOrThrow(t, n, shardId);
  const values = { shard: shardId, source, target };
  if (shard.move !== null) {
    throw new ShardTableError(
      'moveInFlight',
      n,
      `shard ${shardId} is moving already (move ${shard.move.id})`,
      {
        ...values,
        moveId: shard.move.id,
      },
    );
  }
  const inFlight = movesInFlight(t);
  if (inFlight >= t.settings.movesInFlightMax) {
    throw new ShardTableError('movesInFlightMax', n, `${inFlight} moves in flight already`, {
      ...values,
      max: t.settings.movesInFlightMax,
    });
  }
  if (source === null && target === null)
    throw new ShardTableError('badMove', n, 'a move needs a source or a target', values);
  if (source !== null && !shard.voters.includes(source)) {
    throw new ShardTableError(
      'badMove',
      n,
      `${source} is not a voter of shard ${shardId} (${shard.voters})`,
      values,
    );
  }
  if (target === null && shard.voters.length < 2) {
    throw new ShardTableError('badMove', n, `shard ${shardId} would have no voter left`, values);
  }
  if (target !== null) {
    const m = memberOrThrow(t, n, target);
    if (m.state !== 'up') throw new ShardTableError('targetNotUp', n, `${target} is ${m.state}`, values);
    if (replicasOf(shard).includes(target)) {
      throw new ShardTableError('badMove', n, `${target} holds shard ${shardId} already`, values);
    }
    if (source === null && shard.voters.length >= REPLICATION_FACTOR_MAX) {
      throw new ShardTableError('badMove', n, `shard ${shardId} has ${shard.voters.length} voters`, values);
    }
    // A member takes in one replica at a time: one snapshot to receive, one catch-up to pay for.
    const busy = t.shards.find((s) => s.move !== null && s.move.target === target);
    if (busy !== undefined) {
      throw new ShardTableError('targetBusy', n, `${target} is receiving shard ${busy.shardId}`, values);
    }
  }
  const move: Move = {
    id: n,
    source,
    target,
    step: target === null ? 'reconfigure' : 'addLearner',
    votersBefore: shard.voters,
    rollBack: null,
  };
  return withShard(t, { ...shard, move });
}

function moveStepDone(
  t: ShardTable,
  n: number,
  shardId: number,
  moveId: number,
  step: MoveStep,
): Omit<ShardTable, 'lastOp'> {
  const { shard, move } = moveOrThrow(t, n, shardId, moveId);
  // From rollBack, only `reconfigure` may be recorded: the shard made the change after all (a
  // proposal still in flight when the rollback began), and the move can only go forward.
  const resumes = move.step === 'rollBack' && step === 'reconfigure';
  if (step !== move.step && !resumes) {
    throw new ShardTableError(
      'wrongStep',
      n,
      `move ${moveId} of shard ${shardId} is at ${move.step}, not ${step}`,
      {
        shard: shardId,
        moveId,
        at: move.step,
        step,
      },
    );
  }
  const after = stepAfter(move, step);
  if (after === null) {
    throw new ShardTableError('wrongStep', n, `${step} is ended by finishMove`, {
      shard: shardId,
      moveId,
      step,
    });
  }
  return withShard(t, withConfig(shard, { ...move, step: after, rollBack: null }));
}

function abortMove(
  t: ShardTable,
  n: number,
  shardId: number,
  moveId: number,
  reason: string,
  atMs: number,
): Omit<ShardTable, 'lastOp'> {
  const { shard, move } = moveOrThrow(t, n, shardId, moveId);
  // Past reconfigure the new voters are in: the only way out is forward.
  if (!['addLearner', 'catchUp', 'reconfigure'].includes(move.step)) {
    throw new ShardTableError('wrongStep', n, `move ${moveId} at ${move.step} cannot roll back`, {
      shard: shardId,
      moveId,
      at: move.step,
    });
  }
  if (!Number.isFinite(atMs) || atMs < 0) throw new ShardTableError('badMove', n, `atMs ${atMs}`, { atMs });
  const rollBack = { reason: reason.slice(0, REASON_CHARS_MAX), atMs };
  // The learners stay as recorded: the learner goes when the shard has removed it (finishMove).
  return withShard(t, { ...shard, move: { ...move, step: 'rollBack', rollBack } });
}

function finishMove(t: ShardTable, n: number, shardId: number, moveId: number): Omit<ShardTable, 'lastOp'> {
  const { shard, move } = moveOrThrow(t, n, shardId, moveId);
  if (move.step === 'cleanup') {
    return withShard(t, { ...shard, move: null, moveFailures: 0, lastFailureAtMs: 0 });
  }
  if (move.step === 'rollBack' && move.rollBack !== null) {
    const changed = shard.learners.length > 0;
    return withShard(t, {
      ...shard,
      move: null,
      learners: [],
      epoch: shard.epoch + (changed ? 1 : 0),
      moveFailures: shard.moveFailures + 1,
      lastFailureAtMs: move.rollBack.atMs,
    });
  }
  throw new ShardTableError('wrongStep', n, `move ${moveId} of shard ${shardId} is at ${move.step}`, {
    shard: shardId,
    moveId,
    at: move.step,
  });
}

function setShardVoters(
  t: ShardTable,
  n: number,
  shardId: number,
  voters: readonly string[],
): Omit<ShardTable, 'lastOp'> {
  const shard = shardOrThrow(t, n, shardId);
  if (shard.move !== null) {
    throw new ShardTableError('moveInFlight', n, `shard ${shardId} is moving (move ${shard.move.id})`, {
      shard: shardId,
      moveId: shard.move.id,
    });
  }
  const sorted = [...new Set(voters)].sort();
  const bad =
    sorted.length !== voters.length || sorted.length < 1 || sorted.length > REPLICATION_FACTOR_MAX
      ? `[${voters}] must be 1 to ${REPLICATION_FACTOR_MAX} distinct members`
      : sorted.find((v) => (member(t, v)?.state ?? 'removed') === 'removed');
  if (bad !== undefined) {
    throw new ShardTableError('badMove', n, `shard ${shardId}: ${bad} cannot be a voter`, {
      shard: shardId,
      voters: voters.join(','),
    });
  }
  const changed = !sameList(sorted, shard.voters);
  return withShard(t, { ...shard, voters: sorted, epoch: shard.epoch + (changed ? 1 : 0) });
}

/** The step after `step` has been done; null for the steps finishMove ends. */
export function stepAfter(move: Move, step: MoveStep): MoveStep | null {
  switch (step) {
    case 'addLearner':
      return 'catchUp';
    case 'catchUp':
      return 'reconfigure';
    case 'reconfigure':
      return move.source !== null && move.target !== null ? 'leaveJoint' : 'cleanup';
    case 'leaveJoint':
      return 'cleanup';
    case 'cleanup':
    case 'rollBack':
      return null;
  }
}

/** C_new: the voters once the move is through. Sorted. */
export function votersAfter(move: Move): string[] {
  const out = move.votersBefore.filter((v) => v !== move.source);
  if (move.target !== null) out.push(move.target);
  return out.sort();
}

/**
 * The configuration the table records for a move at its step (rollBack: learners as they were when
 * it began rolling back, so not fixed here).
 */
export function expectedConfig(move: Move): {
  voters: string[];
  votersOutgoing: string[];
  learners: string[];
} {
  const before = [...move.votersBefore];
  const learner = move.target === null ? [] : [move.target];
  switch (move.step) {
    case 'addLearner':
      return { voters: before, votersOutgoing: [], learners: [] };
    case 'catchUp':
    case 'reconfigure':
      return { voters: before, votersOutgoing: [], learners: learner };
    case 'rollBack':
      return { voters: before, votersOutgoing: [], learners: learner };
    case 'leaveJoint':
      return { voters: votersAfter(move), votersOutgoing: before, learners: [] };
    case 'cleanup':
      return { voters: votersAfter(move), votersOutgoing: [], learners: [] };
  }
}

function withConfig(shard: ShardEntry, move: Move): ShardEntry {
  const c = expectedConfig(move);
  const changed =
    !sameList(c.voters, shard.voters) ||
    !sameList(c.votersOutgoing, shard.votersOutgoing) ||
    !sameList(c.learners, shard.learners);
  return { ...shard, ...c, move, epoch: shard.epoch + (changed ? 1 : 0) };
}

// ---- reading the table --------------------------------------------------------------------------------

/** Moves in flight in the whole cluster. */
export function movesInFlight(t: ShardTable): number {
  let n = 0;
  for (const s of t.shards) if (s.move !== null) n++;
  return n;
}

/**
 * Every member that holds, or may hold, data of the shard: voters of both halves, learners, and both
 * ends of its move (the source keeps its data until cleanup is over; the target may be a learner
 * the table does not show yet, its addition proposed and not recorded).
 */
export function replicasOf(s: ShardEntry): string[] {
  const out = new Set([...s.voters, ...s.votersOutgoing, ...s.learners]);
  if (s.move?.source) out.add(s.move.source);
  if (s.move?.target) out.add(s.move.target);
  return [...out].sort();
}

/**
 * The voters that serve the shard's requests: the recorded voters (the incoming half while joint)
 * without the source of a move under way, as long as another remains. A source steps aside from the
 * move's start: a request waiting on its replica when the replica is dropped could only be told
 * "maybe" (its entry may be committed beyond what the source learns before it leaves), while one
 * served by a voter that stays gets its answer. With no other voter (one replica), the source serves.
 * A move rolling back keeps its source.
 */
export function servingVoters(s: ShardEntry): readonly string[] {
  const source = s.move === null || s.move.step === 'rollBack' ? null : s.move.source;
  if (source === null) return s.voters;
  const staying = s.voters.filter((v) => v !== source);
  return staying.length > 0 ? staying : [...new Set([...s.voters, ...s.votersOutgoing])].sort();
}

/** shard id → its recorded voters (the incoming half while joint). */
export function votersPlacement(t: ShardTable): Placement {
  return new Map(t.shards.map((s) => [s.shardId, s.voters]));
}

/** The members as place() sees them (zone and id). */
export function ringMembers(members: readonly Member[]): RingMember[] {
  return members.map((m) => (m.zone === '' ? { nodeId: m.nodeId } : { nodeId: m.nodeId, zone: m.zone }));
}

export function member(t: ShardTable, nodeId: string): Member | undefined {
  return t.members.find((m) => m.nodeId === nodeId);
}

// ---- invariants ---------------------------------------------------------------------------------------

/** Checks every invariant written beside the fields; throws with the values on the first broken one. */
export function assertValid(t: ShardTable): void {
  ringAssert(Number.isSafeInteger(t.lastOp) && t.lastOp >= 0, () => `lastOp ${t.lastOp}`);
  if (t.shards.length === 0) {
    ringAssert(t.members.length === 0, () => `${t.members.length} members before init`);
    return;
  }
  const s = t.settings;
  ringAssert(
    s.shardCount === t.shards.length &&
      s.replicationFactor >= 1 &&
      s.replicationFactor <= REPLICATION_FACTOR_MAX,
    () => `settings ${JSON.stringify(s)} with ${t.shards.length} shards`,
  );
  const inFlight = movesInFlight(t);
  ringAssert(
    inFlight <= s.movesInFlightMax && s.movesInFlightMax <= MOVES_IN_FLIGHT_MAX,
    () => `${inFlight} moves in flight, bound ${s.movesInFlightMax}`,
  );
  ringAssert(t.members.length <= MEMBERS_MAX, () => `${t.members.length} members`);
  const stateOf = new Map<string, MemberState>();
  for (const m of t.members) {
    ringAssert(!stateOf.has(m.nodeId), () => `member ${m.nodeId} twice`);
    ringAssert(MEMBER_STATES.includes(m.state), () => `member ${m.nodeId} in state ${m.state}`);
    stateOf.set(m.nodeId, m.state);
  }
  const ids = t.members.map((m) => m.nodeId);
  ringAssert(sameList(ids, [...ids].sort()), () => `members not sorted: ${ids}`);
  const receiving = new Set<string>();
  let nextSlot = 0;
  for (const [i, shard] of t.shards.entries()) {
    ringAssert(shard.shardId === i + 1, () => `shards[${i}] is shard ${shard.shardId}`);
    ringAssert(
      shard.slotFirst === nextSlot && shard.slotLast >= shard.slotFirst,
      () => `shard ${i + 1} slots ${shard.slotFirst}..${shard.slotLast} after ${nextSlot - 1}`,
    );
    nextSlot = shard.slotLast + 1;
    assertShardValid(shard, stateOf);
    const target = shard.move?.target;
    if (target) {
      ringAssert(
        !receiving.has(target),
        () => `${target} is the target of two moves (one at shard ${shard.shardId})`,
      );
      receiving.add(target);
    }
  }
  ringAssert(
    nextSlot === SLOT_COUNT,
    () => `the shards' slots end at ${nextSlot - 1}, not ${SLOT_COUNT - 1}`,
  );
}

function assertShardValid(shard: ShardEntry, stateOf: ReadonlyMap<string, MemberState>): void {
  const id = shard.shardId;
  const { voters, votersOutgoing, learners, move } = shard;
  ringAssert(
    voters.length >= 1 && voters.length <= REPLICATION_FACTOR_MAX,
    () => `shard ${id} has voters [${voters}]`,
  );
  for (const list of [voters, votersOutgoing, learners]) {
    ringAssert(
      sameList(list, [...new Set(list)].sort()),
      () => `shard ${id}: [${list}] not sorted and distinct`,
    );
  }
  ringAssert(
    !learners.some((l) => voters.includes(l) || votersOutgoing.includes(l)),
    () => `shard ${id}: learners [${learners}] also voters`,
  );
  for (const n of replicasOf(shard)) {
    const state = stateOf.get(n);
    ringAssert(
      state !== undefined && state !== 'removed',
      () => `shard ${id} on ${n}, which is ${state ?? 'no member'}`,
    );
  }
  ringAssert(
    shard.epoch >= 1 && shard.moveFailures >= 0,
    () => `shard ${id} epoch ${shard.epoch} failures ${shard.moveFailures}`,
  );
  if (move === null) {
    ringAssert(
      votersOutgoing.length === 0 && learners.length === 0,
      () => `shard ${id} without a move: outgoing [${votersOutgoing}] learners [${learners}]`,
    );
    return;
  }
  ringAssert(
    move.source !== null || move.target !== null,
    () => `shard ${id} move ${move.id} has neither source nor target`,
  );
  ringAssert(
    move.source === null || move.votersBefore.includes(move.source),
    () => `shard ${id} move ${move.id}: source ${move.source} not in [${move.votersBefore}]`,
  );
  ringAssert(
    move.target === null || !move.votersBefore.includes(move.target),
    () => `shard ${id} move ${move.id}: target ${move.target} in [${move.votersBefore}]`,
  );
  ringAssert(
    (move.step === 'rollBack') === (move.rollBack !== null),
    () => `shard ${id} move ${move.id} at ${move.step} with rollBack ${JSON.stringify(move.rollBack)}`,
  );
  if (move.target === null)
    ringAssert(
      !['addLearner', 'catchUp', 'leaveJoint'].includes(move.step),
      () => `shard ${id} move ${move.id} without a target at ${move.step}`,
    );
  if (move.source === null || move.target === null)
    ringAssert(move.step !== 'leaveJoint', () => `shard ${id} move ${move.id}: joint without both ends`);
  const c = expectedConfig(move);
  const learnersOk =
    move.step === 'rollBack'
      ? learners.length === 0 || sameList(learners, c.learners)
      : sameList(learners, c.learners);
  ringAssert(
    sameList(voters, c.voters) && sameList(votersOutgoing, c.votersOutgoing) && learnersOk,
    () =>
      `shard ${id} move ${move.id} at ${move.step}: voters [${voters}] outgoing [${votersOutgoing}] learners [${learners}], expected ${JSON.stringify(c)}`,
  );
}

// ---- helpers ------------------------------------------------------------------------------------------

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sortMembers(ms: readonly Member[]): Member[] {
  return [...ms].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
}

function withMember(t: ShardTable, m: Member): Omit<ShardTable, 'lastOp'> {
  return { ...t, members: t.members.map((x) => (x.nodeId === m.nodeId ? m : x)) };
}

function withShard(t: ShardTable, s: ShardEntry): Omit<ShardTable, 'lastOp'> {
  return { ...t, shards: t.shards.map((x) => (x.shardId === s.shardId ? s : x)) };
}

function memberOrThrow(t: ShardTable, n: number, nodeId: string): Member {
  const m = member(t, nodeId);
  if (m === undefined) throw new ShardTableError('unknownMember', n, `no member ${nodeId}`, { nodeId });
  return m;
}

function shardOrThrow(t: ShardTable, n: number, shardId: number): ShardEntry {
  const s = t.shards[shardId - 1];
  if (!Number.isInteger(shardId) || s === undefined) {
    throw new ShardTableError('unknownShard', n, `no shard ${shardId} (1..${t.shards.length})`, {
      shard: shardId,
    });
  }
  return s;
}

function moveOrThrow(
  t: ShardTable,
  n: number,
  shardId: number,
  moveId: number,
): { shard: ShardEntry; move: Move } {
  const shard = shardOrThrow(t, n, shardId);
  const move = shard.move;
  if (move === null || move.id !== moveId) {
    throw new ShardTableError(
      'noSuchMove',
      n,
      `shard ${shardId} has move ${move?.id ?? 'none'}, not ${moveId}`,
      {
        shard: shardId,
        moveId,
        current: move?.id ?? null,
      },
    );
  }
  return { shard, move };
}
