// The planner: from the shard table, the placement the cluster should have (place() over the
// members that are up) and the moves that lead there, within the limits:
//   - at most settings.movesInFlightMax (K) moves in flight in the whole cluster;
//   - one move at a time per shard (the table holds one);
//   - one snapshot at a time into a member and out of one: a member is the target of one move at a
//     time (until that move is over: the table enforces it), and a shard's leader, which sends the
//     learner its snapshot, serves one move in addLearner or catchUp at a time;
//   - a shard whose last moves rolled back waits moveBackoffMs(failures) before the next;
//   - a replica on a member that is not up is replaced, never simply dropped: with fewer members up
//     than R, the shard keeps it and stays under-replicated until a member can take it.
// Members joining, draining, down or removed get no replicas. The planner keeps no state: a new
// metadata leader plans from the table alone, and moves in flight are left to move.ts.
//
// Also here: the metadata group's voters (at most 5, spread over zones) and `describePlan`, the
// plan as plain data for `ringkv cluster rebalance --dry-run`.
import { ringAssert } from './errors.ts';
import { retryAtMs } from './move.ts';
import { type Placement, place, replicaCounts } from './placement.ts';
import {
  METADATA_VOTERS_MAX,
  type Member,
  type MoveStep,
  movesInFlight,
  ringMembers,
  type ShardEntry,
  type ShardTable,
  votersAfter,
} from './shard-table.ts';

export type MoveReason =
  /** The source is down: its replica is re-created from the others. */
  | 'sourceDown'
  /** The source is draining (or otherwise not up): its replicas move away. */
  | 'sourceLeaving'
  /** The shard has fewer voters than it should. */
  | 'underReplicated'
  /** The shard has more voters than R (R was lowered). */
  | 'overReplicated'
  /** Both ends are up: the source is above its fair share, the target below (a join, mostly). */
  | 'balance';

export interface PlannedMove {
  readonly shard: number;
  readonly source: string | null;
  readonly target: string | null;
  readonly reason: MoveReason;
  /** The reason in words, with the numbers behind it. */
  readonly detail: string;
}

export type DeferReason = 'movesInFlightMax' | 'targetBusy' | 'senderBusy' | 'backoff';

export interface DeferredMove extends PlannedMove {
  readonly deferred: DeferReason;
  /** For 'backoff': when the shard may move again, by the caller's clock. */
  readonly untilMs: number;
}

export interface RebalancePlan {
  /** The placement wanted: shard → voters, in the shard's ring order (the first: preferred leader). */
  readonly target: Placement;
  /** Moves to begin now (one beginMove operation each), most urgent first. */
  readonly start: readonly PlannedMove[];
  /** Moves wanted but held back by a limit, and which one. */
  readonly deferred: readonly DeferredMove[];
  readonly inFlight: readonly {
    shard: number;
    moveId: number;
    source: string | null;
    target: string | null;
    step: MoveStep;
  }[];
  /**
   * Moves to roll back (abortMove): their target is no longer up and the new voters are not in yet.
   * (One whose target went down would time out anyway; one to a member now draining would finish
   * only for the replica to move away again.)
   */
  readonly abandon: readonly { shard: number; moveId: number; reason: string }[];
  /** Shards with fewer than R voters on members that are up, counting moves in flight as done. */
  readonly underReplicated: readonly number[];
}

export interface PlanInput {
  /** The caller's clock (for the backoff after rollbacks). */
  readonly nowMs: number;
  /**
   * The shards' leaders as last reported, to know who sends a learner its snapshot. Where a shard is
   * missing, the sender is taken to be its first voter that is up and not the move's source (the
   * voter move.ts hands leadership to when the source leads).
   */
  readonly leaders?: ReadonlyMap<number, string>;
}

/** The moves that bring the table towards place(), within the limits. */
export function plan(table: ShardTable, input: PlanInput): RebalancePlan {
  const up = table.members.filter((m) => m.state === 'up');
  const stateOf = new Map(table.members.map((m) => [m.nodeId, m.state]));
  const inFlight = table.shards
    .filter((s) => s.move !== null)
    .map((s) => {
      const m = s.move!;
      return { shard: s.shardId, moveId: m.id, source: m.source, target: m.target, step: m.step };
    });
  // A shard that is moving counts as where its move leads (or, rolling back, as where it was).
  const current = new Map<number, string[]>();
  for (const s of table.shards) {
    const m = s.move;
    current.set(
      s.shardId,
      m === null ? [...s.voters] : m.step === 'rollBack' ? [...m.votersBefore] : votersAfter(m),
    );
  }
  const abandon = table.shards.flatMap((s) => {
    const m = s.move;
    if (m === null || m.target === null || !['addLearner', 'catchUp', 'reconfigure'].includes(m.step))
      return [];
    const state = stateOf.get(m.target);
    return state === 'up'
      ? []
      : [{ shard: s.shardId, moveId: m.id, reason: `the target ${m.target} is ${state}` }];
  });
  const R = table.settings.replicationFactor;
  if (up.length === 0) {
    const underReplicated = table.shards.map((s) => s.shardId);
    return { target: current, start: [], deferred: [], inFlight, abandon, underReplicated };
  }
  const target = place(current, ringMembers(up), table.settings);
  const counts = replicaCounts(current, ringMembers(up));
  const quota = (table.settings.shardCount * Math.min(R, up.length)) / up.length;
  const wanted: PlannedMove[] = [];
  for (const s of table.shards) {
    if (s.move !== null) continue;
    const m = moveFor(s, target.get(s.shardId) ?? [], R, stateOf, counts, quota);
    if (m !== undefined) wanted.push(m);
  }
  wanted.sort((a, b) => urgency(a) - urgency(b) || a.shard - b.shard);
  const { start, deferred } = withinLimits(table, wanted, input);
  const free = table.settings.movesInFlightMax - inFlight.length;
  ringAssert(start.length <= free, () => `${start.length} moves to begin, ${free} free of K`);
  for (const m of start) {
    const voters = table.shards[m.shard - 1]?.voters ?? [];
    ringAssert(
      (m.source === null || voters.includes(m.source)) &&
        (m.target === null || (stateOf.get(m.target) === 'up' && !voters.includes(m.target))),
      () => `planned ${JSON.stringify(m)} for voters [${voters}]`,
    );
  }
  const underReplicated = table.shards
    .filter((s) => {
      const after = current.get(s.shardId) ?? [];
      return after.filter((v) => stateOf.get(v) === 'up').length < R;
    })
    .map((s) => s.shardId);
  return { target, start, deferred, inFlight, abandon, underReplicated };
}

/** The one move a shard should make next (one at a time per shard), or none. */
function moveFor(
  s: ShardEntry,
  wanted: readonly string[],
  R: number,
  stateOf: ReadonlyMap<string, string>,
  counts: ReadonlyMap<string, number>,
  quota: number,
): PlannedMove | undefined {
  const adds = wanted.filter((n) => !s.voters.includes(n));
  // Replicas on members that are not up go first, the down ones before the others.
  const rank = (n: string): number => (stateOf.get(n) === 'down' ? 0 : stateOf.get(n) === 'up' ? 2 : 1);
  const removes = s.voters
    .filter((n) => !wanted.includes(n))
    .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
  const shard = s.shardId;
  const source = removes[0];
  const target = adds[0];
  // A shard with fewer voters than wanted first grows: a swap on it (joint consensus, say {a,b} to
  // {b,c}) needs a quorum of both halves, so one of three replicas lost mid-move (the target, or a
  // source that is down) stalls it, where adding a voter to {a,b} needs two of the three.
  if (source !== undefined && target !== undefined && s.voters.length >= wanted.length) {
    const state = stateOf.get(source);
    if (state === 'down') return { shard, source, target, reason: 'sourceDown', detail: `${source} is down` };
    if (state !== 'up') {
      return {
        shard,
        source,
        target,
        reason: 'sourceLeaving',
        detail: `${source} is ${state ?? 'no member'}`,
      };
    }
    return {
      shard,
      source,
      target,
      reason: 'balance',
      detail: `${source} holds ${counts.get(source) ?? 0} replicas, ${target} ${counts.get(target) ?? 0}; the fair share is ${quota.toFixed(1)}`,
    };
  }
  if (target !== undefined) {
    return {
      shard,
      source: null,
      target,
      reason: 'underReplicated',
      detail: `shard ${shard} has ${s.voters.length} voters, wants ${wanted.length}`,
    };
  }
  // A voter goes without a replacement only when the shard has more than R (R was lowered); one
  // that is not up but has no replacement yet stays: it may come back, and it costs no quorum.
  if (source !== undefined && s.voters.length > R) {
    return {
      shard,
      source,
      target: null,
      reason: 'overReplicated',
      detail: `shard ${shard} has ${s.voters.length} voters, R is ${R}`,
    };
  }
  return undefined;
}

function urgency(m: PlannedMove): number {
  const order: readonly MoveReason[] = [
    'sourceDown',
    'underReplicated',
    'sourceLeaving',
    'balance',
    'overReplicated',
  ];
  return order.indexOf(m.reason);
}

/** Splits the wanted moves into those that may begin now and those a limit holds back. */
function withinLimits(
  table: ShardTable,
  wanted: readonly PlannedMove[],
  input: PlanInput,
): { start: PlannedMove[]; deferred: DeferredMove[] } {
  let free = table.settings.movesInFlightMax - movesInFlight(table);
  ringAssert(
    free >= 0,
    () => `${movesInFlight(table)} moves in flight, bound ${table.settings.movesInFlightMax}`,
  );
  const up = new Set(table.members.filter((m) => m.state === 'up').map((m) => m.nodeId));
  const receiving = new Set<string>();
  const sending = new Set<string>();
  for (const s of table.shards) {
    const m = s.move;
    if (m === null || m.target === null) continue;
    receiving.add(m.target);
    if (m.step === 'addLearner' || m.step === 'catchUp') sending.add(senderOf(s, m.source, input, up));
  }
  const start: PlannedMove[] = [];
  const deferred: DeferredMove[] = [];
  for (const w of wanted) {
    const shard = table.shards[w.shard - 1] as ShardEntry;
    const untilMs = retryAtMs(shard);
    const sender = w.target === null ? undefined : senderOf(shard, w.source, input, up);
    let why: DeferReason | undefined;
    if (untilMs > input.nowMs) why = 'backoff';
    else if (free <= 0) why = 'movesInFlightMax';
    else if (w.target !== null && receiving.has(w.target)) why = 'targetBusy';
    else if (sender !== undefined && sending.has(sender)) why = 'senderBusy';
    if (why !== undefined) {
      deferred.push({ ...w, deferred: why, untilMs: why === 'backoff' ? untilMs : 0 });
      continue;
    }
    start.push(w);
    free--;
    if (w.target !== null) receiving.add(w.target);
    if (sender !== undefined) sending.add(sender);
  }
  return { start, deferred };
}

/** Who sends the learner its snapshot: the shard's leader, unless it is the source (it hands over). */
function senderOf(s: ShardEntry, source: string | null, input: PlanInput, up: ReadonlySet<string>): string {
  const leader = input.leaders?.get(s.shardId);
  if (leader !== undefined && leader !== source) return leader;
  const voters = s.move === null ? s.voters : s.move.votersBefore;
  return voters.find((v) => v !== source && up.has(v)) ?? voters.find((v) => v !== source) ?? voters[0] ?? '';
}

/**
 * The metadata group's voters: every member that is up when there are at most METADATA_VOTERS_MAX,
 * else that many, spread over the zones as evenly as they allow (round by round, the zone with the
 * fewest chosen first), keeping the current voters wherever the spread allows. With fewer members up
 * than voters wanted, current voters that are not up are kept (like a shard's replicas: they may
 * come back, and removing them would not make the group safer). Sorted.
 */
export function metadataVoters(members: readonly Member[], current: readonly string[]): string[] {
  const present = members.filter((m) => m.state !== 'removed' && m.state !== 'joining');
  const want = Math.min(METADATA_VOTERS_MAX, present.length);
  const isCurrent = new Set(current);
  const byZone = new Map<string, Member[]>();
  for (const m of members.filter((x) => x.state === 'up')) {
    const zone = m.zone === '' ? `node:${m.nodeId}` : `zone:${m.zone}`;
    const list = byZone.get(zone) ?? [];
    list.push(m);
    byZone.set(zone, list);
  }
  const preferred = (a: Member, b: Member): number =>
    Number(isCurrent.has(b.nodeId)) - Number(isCurrent.has(a.nodeId)) || (a.nodeId < b.nodeId ? -1 : 1);
  for (const list of byZone.values()) list.sort(preferred);
  const chosen: string[] = [];
  const taken = new Map<string, number>();
  // Bounded: every round takes one member, and there are at most `want` rounds.
  while (chosen.length < want) {
    let best: string | undefined;
    for (const [zone, list] of byZone) {
      const k = taken.get(zone) ?? 0;
      const next = list[k];
      if (next === undefined) continue;
      if (best === undefined) {
        best = zone;
        continue;
      }
      const kb = taken.get(best) ?? 0;
      const nb = (byZone.get(best) as Member[])[kb] as Member;
      const better =
        k < kb ||
        (k === kb && isCurrent.has(next.nodeId) && !isCurrent.has(nb.nodeId)) ||
        (k === kb && isCurrent.has(next.nodeId) === isCurrent.has(nb.nodeId) && zone < best);
      if (better) best = zone;
    }
    if (best === undefined) break;
    const k = taken.get(best) ?? 0;
    chosen.push(((byZone.get(best) as Member[])[k] as Member).nodeId);
    taken.set(best, k + 1);
  }
  // Fewer up than wanted: keep the current voters that are down or draining.
  for (const id of [...current].sort()) {
    if (chosen.length >= want) break;
    if (!chosen.includes(id) && present.some((m) => m.nodeId === id)) chosen.push(id);
  }
  ringAssert(chosen.length <= METADATA_VOTERS_MAX, () => `metadata voters [${chosen}]`);
  return chosen.sort();
}

/** The plan as plain data (JSON-ready): what `ringkv cluster rebalance --dry-run` prints. */
export function describePlan(p: RebalancePlan): {
  target: { shard: number; voters: string[] }[];
  start: PlannedMove[];
  deferred: DeferredMove[];
  inFlight: RebalancePlan['inFlight'];
  abandon: RebalancePlan['abandon'];
  underReplicated: number[];
} {
  return {
    target: [...p.target]
      .sort((a, b) => a[0] - b[0])
      .map(([shard, voters]) => ({ shard, voters: [...voters] })),
    start: [...p.start],
    deferred: [...p.deferred],
    inFlight: [...p.inFlight],
    abandon: [...p.abandon],
    underReplicated: [...p.underReplicated],
  };
}
