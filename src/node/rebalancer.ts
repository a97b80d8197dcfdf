// The rebalancer: the shard table's moves, planned and carried out. Every node runs one, on its
// clock (NodeOptions.clock), every `intervalMs`, and soon after anything that may let a move go on
// (`nudge`: the table changed here, or this node just asked a shard for a move's action), so that a
// move takes the time its steps take rather than a round per step:
// - on the metadata group's leader, the planner (src/ring/rebalance.ts `plan`) turns the difference
//   between the table and the ring's placement into moves and records each in the table
//   (beginMove), within the table's limits (K moves in flight, one per target); moves whose target
//   is no longer up are rolled back (abortMove);
// - on each shard's leader, the moves of the shards it leads go forward: `nextAction` (move.ts) is
//   asked with what the shard reports (its configuration, leader, applied and snapshot indexes, the
//   voters it sees up to date and whether a configuration change is pending, all known here, exactly,
//   as this node leads it; the learner's applied index and whether the source still holds the data
//   from their Status), and its action is done here: a leadership transfer, a learner added or
//   removed, joint consensus entered or left, or the table told of a step done, a rollback or the end.
// The shard's leader drives its own moves because every action but the table's is a proposal to the
// shard, which only its leader can make; the table's changes are metadata proposals, which the Raft
// core forwards to the metadata leader. Two nodes acting on one move (a leadership change) are
// harmless: the table refuses a step recorded twice, and the shard's leader a change whose basis
// (the configuration the action was decided on, ConfChange.basis) is no longer its configuration,
// so a change decided on a stale view never lands, forwarded or not. A node also acts only if, once
// its observation is in, it still leads the shard in the term it observed and the table still has
// the move at that step. Everything a move needs is in the table, so a new leader resumes it where
// it was.
import type { Logger } from 'pino';
import type { ConfBasis, ConfState, NodeId } from '../raft/types.ts';
import {
  learnerCaughtUp,
  MOVE_LIMITS_DEFAULT,
  type MoveAction,
  nextAction,
  type ShardObservation,
} from '../ring/move.ts';
import { plan } from '../ring/rebalance.ts';
import { type Move, member, replicasOf, type ShardEntry, type ShardTable } from '../ring/shard-table.ts';
import type { Clock, Timer } from './clock.ts';
import { type GroupId, METADATA_GROUP } from './ids.ts';
import type { GroupStatus, NodeIntents, PlannedConfChange } from './intents.ts';
import { MemberLiveness } from './liveness.ts';
import { progressCaughtUp, proposeMetadata } from './membership.ts';
import type { MemberInfo, TableChange } from './metadata.ts';
import { metadataVoterChange } from './metadata-voters.ts';
import type { ClusterRpc } from './options.ts';
import { everyRound } from './periodic.ts';
import type { RequestIds } from './state-machine.ts';

/** How soon a round follows a table change applied here (changes that come together share it). */
const AFTER_TABLE_CHANGE_MS = 10;
/**
 * How soon a round follows a shard action this node asked for (a learner added, the voters changed):
 * about when the shard has applied it, on a node that is not overloaded; if not yet, the next
 * round sees it.
 */
const AFTER_SHARD_ACTION_MS = 50;

/** How long a Status call to a move's target or source may take. */
const PEER_STATUS_TIMEOUT_MS = 1_000;
/** How long a table change proposed by the rebalancer may take to apply. */
const TABLE_CHANGE_TIMEOUT_MS = 5_000;
/**
 * How long a member seen joining holds back new moves (`plan`): two Join attempts' admissions (60 s
 * each), so that a joiner that crashed mid-join and never came back stops holding them.
 */
export const JOIN_HOLD_MS = 120_000;

/** What the rebalancer needs of the node (KvNode implements it). */
export interface RebalancerHost
  extends Pick<
    NodeIntents,
    'status' | 'statuses' | 'transferLeadership' | 'changeMembership' | 'proposeMetadata'
  > {
  readonly id: NodeId;
  readonly isClosing: boolean;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'debug' | 'error'>;
  readonly clock: Pick<Clock, 'nowMs' | 'after' | 'every' | 'cancel'>;
  readonly cluster: ClusterRpc;
  readonly requestIds: RequestIds;
  readonly metadata: { readonly table: ShardTable; member(id: string): MemberInfo | undefined };
  /** Proposes a configuration change of several single changes (joint consensus), or leaving one. */
  reconfigure(group: GroupId, cc: PlannedConfChange): void;
  /** The index of the newest snapshot the group holds here. */
  snapshotIndex(group: GroupId): number;
}

/** What the rebalancer remembers of a move it drives (its timings; nothing the table does not also say). */
interface MoveProgress {
  readonly startedMs: number;
  step: Move['step'];
  stepStartedMs: number;
  /** When the step began or the learner's applied index last advanced. */
  progressMs: number;
  learnerApplied: number;
  /** A Status call or a table change of this move in flight: one at a time. */
  busy: boolean;
  lastWait: string;
}

export class Rebalancer {
  private readonly host: RebalancerHost;
  private readonly intervalMs: number;
  private timer: Timer | undefined;
  /** The extra round `nudge` set, and when it is due. At most one at a time. */
  private soon: { readonly timer: Timer; readonly dueMs: number } | undefined;
  /** Moves this node drives, by move id. Bounded by the table's K (entries of finished moves go). */
  private readonly moves = new Map<number, MoveProgress>();
  private planning = false;
  /** Who is heard from, on the metadata leader (liveness.ts). */
  private readonly liveness = new MemberLiveness();
  /** A member's state change by `judgeLiveness` in flight. */
  private marking = false;
  /**
   * The table the last plan found nothing to do for. The table is an immutable value (every change
   * makes a new one), so while it is the same object, and no shard waits out a backoff (the only
   * input of plan() that moves with time), planning again would find nothing either.
   */
  private idleTable: ShardTable | undefined;
  /**
   * When this node first saw each member that is joining (by the table), for the hold on new moves.
   * Bounded by the member list: entries of members no longer joining go at each plan.
   */
  private readonly joiningSince = new Map<string, number>();

  constructor(host: RebalancerHost, intervalMs: number) {
    this.host = host;
    this.intervalMs = intervalMs;
  }

  start(): void {
    this.timer = everyRound(
      this.host.clock,
      this.intervalMs,
      this.host.logger,
      'rebalancer round failed',
      () => {
        this.round();
      },
    );
  }

  stop(): void {
    if (this.timer !== undefined) this.host.clock.cancel(this.timer);
    this.timer = undefined;
    if (this.soon !== undefined) this.host.clock.cancel(this.soon.timer);
    this.soon = undefined;
  }

  /**
   * Runs a round `delayMs` from now besides the periodic ones (none when the rebalancer is not
   * running). Nudges that come while one is due join it, or bring it forward.
   */
  nudge(delayMs = AFTER_TABLE_CHANGE_MS): void {
    if (this.timer === undefined || this.host.isClosing) return;
    const clock = this.host.clock;
    const dueMs = clock.nowMs() + delayMs;
    if (this.soon !== undefined) {
      if (this.soon.dueMs <= dueMs) return;
      clock.cancel(this.soon.timer);
    }
    const timer = clock.after(delayMs, () => {
      this.soon = undefined;
      try {
        this.round();
      } catch (err) {
        this.host.logger.error({ err }, 'rebalancer round failed');
      }
    });
    this.soon = { timer, dueMs };
  }

  round(): void {
    const host = this.host;
    const table = host.metadata.table;
    if (host.isClosing || table.shards.length === 0) return;
    const meta = host.status(METADATA_GROUP);
    const leads = meta?.role === 'leader';
    this.judgeLiveness(table, leads ? meta?.progress : undefined);
    if (leads && meta !== undefined) this.shapeMetadataVoters(table, meta);
    if (leads && !this.planning && table !== this.idleTable) {
      this.planning = true;
      this.plan(table)
        .catch((err: unknown) => this.host.logger.warn({ err }, 'rebalance planning failed'))
        .finally(() => {
          this.planning = false;
        });
    }
    const live = new Set<number>();
    for (const entry of table.shards) {
      const move = entry.move;
      if (move === null) {
        this.removeStrayLearner(table, entry);
        continue;
      }
      live.add(move.id);
      const st = host.status(entry.shardId as GroupId);
      if (st === undefined || st.role !== 'leader') continue;
      this.drive(entry, move, st);
    }
    for (const id of this.moves.keys()) if (!live.has(id)) this.moves.delete(id);
  }

  /**
   * Shard leader, no move in flight: a learner of the shard's configuration that the table gives no
   * role (a rolled-back move whose learner removal never happened: its target left the cluster
   * meanwhile) is removed, or the shard never matches its table. Not a joining member's: a join
   * takes it into the configuration before the table records it.
   */
  private removeStrayLearner(table: ShardTable, entry: ShardEntry): void {
    const st = this.host.status(entry.shardId as GroupId);
    if (st === undefined || st.role !== 'leader' || st.pendingConfIndex > st.applied) return;
    const cs = st.confState;
    if (cs.votersOutgoing.length > 0) return;
    const stray = cs.learners.find((id) => {
      if (replicasOf(entry).includes(id)) return false;
      return member(table, id)?.state !== 'joining';
    });
    if (stray === undefined) return;
    try {
      this.host.changeMembership(entry.shardId as GroupId, { type: 'removeNode', nodeId: stray }, cs);
      this.host.logger.info(
        { shard: entry.shardId, learner: stray },
        'stray learner removed: the shard table gives it no role in the shard',
      );
    } catch (err) {
      this.host.logger.debug({ shard: entry.shardId, err }, 'stray learner removal not accepted now');
    }
  }

  /**
   * Metadata leader: marks members down that it has not heard from for the dead-node timeout, and up
   * again once it hears from them (liveness.ts); the next plan moves replicas accordingly. One
   * round of changes at a time.
   */
  private judgeLiveness(table: ShardTable, progress: GroupStatus['progress']): void {
    const host = this.host;
    const verdicts = this.liveness.observe({
      nowMs: host.clock.nowMs(),
      self: host.id,
      progress,
      members: table.members,
      deadNodeTimeoutMs: table.settings.deadNodeTimeoutMs,
    });
    if (this.marking || verdicts.length === 0) return;
    this.marking = true;
    (async () => {
      for (const v of verdicts) {
        if (v.state === 'down') {
          host.logger.warn(
            { nodeId: v.nodeId, silentMs: v.silentMs, deadNodeTimeoutMs: table.settings.deadNodeTimeoutMs },
            'member marked down: not heard from for longer than the dead-node timeout; its replicas are re-created on the others',
          );
        } else {
          host.logger.info({ nodeId: v.nodeId }, 'member heard from again: marked up');
        }
        await this.change({ kind: 'setMemberState', nodeId: v.nodeId, state: v.state });
      }
    })()
      .catch((err: unknown) => host.logger.warn({ err }, 'marking a member down or up failed'))
      .finally(() => {
        this.marking = false;
      });
  }

  /**
   * Metadata leader: at most METADATA_VOTERS_MAX voters in the metadata group, none down while an up
   * learner could vote, spread over zones (metadata-voters.ts); one change at a time, none while
   * another is pending or the group is joint.
   */
  private shapeMetadataVoters(table: ShardTable, meta: GroupStatus): void {
    const cs = meta.confState;
    if (cs.votersOutgoing.length > 0 || meta.pendingConfIndex > meta.applied) return;
    const r = metadataVoterChange({
      self: this.host.id,
      voters: cs.voters,
      learners: cs.learners,
      members: table.members,
      caughtUp: (id) => {
        const pr = meta.progress?.get(id as NodeId);
        return pr !== undefined && progressCaughtUp(pr, meta.lastIndex);
      },
    });
    if (r === undefined) return;
    try {
      this.host.changeMembership(METADATA_GROUP, r.change, cs);
      this.host.logger.info({ change: r.change, why: r.why }, 'metadata group voters changed');
    } catch (err) {
      this.host.logger.debug({ change: r.change, err }, 'metadata voter change not accepted now');
    }
  }

  /**
   * Metadata leader: begins the moves the planner wants, rolls back those whose target left. Begins
   * none while a member joins (for at most JOIN_HOLD_MS from when this node first saw it joining): a
   * join into a cluster of at most R members makes the member a voter of every shard before the
   * table records it (membership.ts admitMember), and a move planned from the table meanwhile would
   * be planned against voters the shard no longer has; the member, once up, would then find itself
   * in a shard the table gives it no role in, and delete its replica as stale while the shard still
   * counts it a voter.
   */
  private async plan(table: ShardTable): Promise<void> {
    const host = this.host;
    const leaders = new Map<number, string>();
    for (const st of host.statuses())
      if (st.id !== METADATA_GROUP && st.leader !== '') leaders.set(st.id, st.leader);
    const now = host.clock.nowMs();
    const p = plan(table, { nowMs: now, leaders });
    const joiner = this.heldBy(table, now);
    const waiting = table.shards.some((s) => s.moveFailures > 0);
    const idle = p.start.length === 0 && p.abandon.length === 0 && p.deferred.length === 0;
    this.idleTable = idle && !waiting && joiner === undefined ? table : undefined;
    for (const a of p.abandon) {
      const reason = `abandoned: ${a.reason}`;
      await this.change({
        kind: 'abortMove',
        shard: a.shard,
        moveId: a.moveId,
        reason,
        atMs: host.clock.nowMs(),
      });
    }
    if (joiner !== undefined && p.start.length > 0) {
      host.logger.debug(
        { joiner, moves: p.start.length },
        'moves held back: a member is joining (it may be taking every shard)',
      );
      return;
    }
    for (const m of p.start) {
      host.logger.info(
        { shard: m.shard, source: m.source, target: m.target, reason: m.reason, detail: m.detail },
        'move planned',
      );
      await this.change({ kind: 'beginMove', shard: m.shard, source: m.source, target: m.target });
    }
  }

  /** A member joining that holds new moves back (seen joining for less than JOIN_HOLD_MS), if any. */
  private heldBy(table: ShardTable, nowMs: number): string | undefined {
    const joining = new Set(table.members.filter((m) => m.state === 'joining').map((m) => m.nodeId));
    for (const id of this.joiningSince.keys()) if (!joining.has(id)) this.joiningSince.delete(id);
    let held: string | undefined;
    for (const id of joining) {
      const since = this.joiningSince.get(id) ?? nowMs;
      this.joiningSince.set(id, since);
      if (held === undefined && nowMs - since < JOIN_HOLD_MS) held = id;
    }
    return held;
  }

  /** Shard leader: one step of a move. */
  private drive(entry: ShardEntry, move: Move, st: GroupStatus): void {
    const now = this.host.clock.nowMs();
    let p = this.moves.get(move.id);
    if (p === undefined) {
      p = {
        startedMs: now,
        step: move.step,
        stepStartedMs: now,
        progressMs: now,
        learnerApplied: 0,
        busy: false,
        lastWait: '',
      };
      this.moves.set(move.id, p);
    }
    if (p.busy) return;
    if (p.step !== move.step) {
      p.step = move.step;
      p.stepStartedMs = now;
      p.progressMs = now;
    }
    p.busy = true;
    const progress = p;
    const term = st.term;
    this.observe(entry, move, st, progress)
      .then((o) => {
        return this.stillDriving(entry, move, term)
          ? this.act(entry, move, o, st.confState, progress)
          : false;
      })
      .then((askedShard) => {
        progress.busy = false;
        if (askedShard) this.nudge(AFTER_SHARD_ACTION_MS);
      })
      .catch((err: unknown) => {
        progress.busy = false;
        this.host.logger.warn({ shard: entry.shardId, moveId: move.id, err }, 'move step failed');
      });
  }

  /** What the shard reports, from this node (its leader) and the Status of the move's two ends. */
  private async observe(
    entry: ShardEntry,
    move: Move,
    st: GroupStatus,
    p: MoveProgress,
  ): Promise<ShardObservation> {
    const host = this.host;
    const cs = st.confState;
    // Current: heard from within the election timeout (recentActive) and matched within the bound.
    // Without the first, a replica that stopped answering counts while no entries are written.
    const caughtUp: string[] = [];
    for (const [id, pr] of st.progress ?? []) {
      const current =
        id === host.id ||
        (pr.recentActive &&
          pr.state === 'replicate' &&
          pr.match + MOVE_LIMITS_DEFAULT.catchUpEntriesMax >= st.lastIndex);
      if (current) caughtUp.push(id);
    }
    let learnerApplied = 0;
    if (move.target !== null && ['catchUp', 'reconfigure'].includes(move.step)) {
      learnerApplied = (await this.appliedAt(move.target, entry.shardId)) ?? 0;
    }
    let sourceDataGone = false;
    if (move.step === 'cleanup' && move.source !== null) {
      // A source marked down cannot say; it drops the data when it learns it is out of the shard.
      const state = member(host.metadata.table, move.source)?.state;
      sourceDataGone =
        state === undefined ||
        state === 'down' ||
        state === 'removed' ||
        (await this.appliedAt(move.source, entry.shardId)) === undefined;
    }
    const votersBehind = sourceOut(move, cs) ? await this.votersBehind(entry.shardId, st) : [];
    const now = host.clock.nowMs();
    if (learnerApplied > p.learnerApplied) {
      p.learnerApplied = learnerApplied;
      p.progressMs = now;
    }
    return {
      voters: cs.voters,
      votersOutgoing: cs.votersOutgoing,
      learners: cs.learners,
      leader: st.leader === '' ? null : st.leader,
      leaderApplied: st.applied,
      leaderSnapshotIndex: host.snapshotIndex(entry.shardId as GroupId),
      learnerApplied,
      caughtUp,
      confChangePending: st.pendingConfIndex > st.applied,
      sourceDataGone,
      votersBehind,
      sinceProgressMs: Math.max(0, now - p.progressMs),
    };
  }

  /**
   * The voters of the configuration this leader applied, other than itself and members marked down
   * (or gone), that have not applied it: their Status shows an applied index below the entry that
   * made it (at most `pendingConfIndex`, with no change pending), or they do not answer. While a
   * change is pending, every voter but the leader.
   */
  private async votersBehind(shard: number, st: GroupStatus): Promise<string[]> {
    const host = this.host;
    const waitFor = st.confState.voters.filter((v) => {
      if (v === host.id) return false;
      const state = member(host.metadata.table, v)?.state;
      return state !== undefined && state !== 'down' && state !== 'removed';
    });
    if (st.pendingConfIndex > st.applied) return waitFor;
    const applied = await Promise.all(waitFor.map((v) => this.appliedAt(v, shard)));
    return waitFor.filter((_, i) => (applied[i] ?? 0) < st.pendingConfIndex);
  }

  /**
   * A member's applied index of the shard from its Status; undefined when it does not host the shard
   * (or is no member); 0 when it does not answer.
   */
  private async appliedAt(nodeId: string, shard: number): Promise<number | undefined> {
    const m = this.host.metadata.member(nodeId);
    if (m === undefined) return undefined;
    if (nodeId === this.host.id) return this.host.status(shard as GroupId)?.applied;
    try {
      const answer = await this.host.cluster.status(
        m.clientAddr,
        this.host.clock.nowMs() + PEER_STATUS_TIMEOUT_MS,
      );
      return answer.applied.get(shard);
    } catch {
      return 0;
    }
  }

  /**
   * After the observation (it awaits Status calls): whether this node still leads the shard in the
   * term it observed it in, and the table still has the move at the same step. Otherwise it does not
   * act: its core, now a follower, would forward the change to the new leader (found by `ringkv sim
   * --real --nodes 4`, seed 334: a node paused while it led the shard resumed, observed, lost the
   * leadership meanwhile, and its joint change, add a voter already in and remove one already out,
   * left the shard joint with the same voters on both halves, which nothing ever leaves). What keeps
   * such a change from landing is its basis, which the new leader refuses (a node can also act on a
   * status and a table that are both stale while it still believes it leads: seed 790023 of 5 nodes);
   * this check spares the proposal.
   */
  private stillDriving(entry: ShardEntry, move: Move, term: number): boolean {
    const st = this.host.status(entry.shardId as GroupId);
    const current = this.host.metadata.table.shards[entry.shardId - 1]?.move;
    const still =
      st?.role === 'leader' && st.term === term && current?.id === move.id && current.step === move.step;
    if (!still)
      this.host.logger.debug(
        { shard: entry.shardId, moveId: move.id, step: move.step },
        'the shard changed leader or the move its step while observing: not acting',
      );
    return still;
  }

  /**
   * One action of the move, decided on the observation of the shard's configuration `basis`; true
   * when it asked the shard for something (a proposal, a transfer).
   */
  private async act(
    entry: ShardEntry,
    move: Move,
    o: ShardObservation,
    basis: ConfBasis,
    p: MoveProgress,
  ): Promise<boolean> {
    const host = this.host;
    const shard = entry.shardId as GroupId;
    const a: MoveAction = nextAction(move, o);
    const log = { shard, moveId: move.id, source: move.source, target: move.target, step: move.step };
    switch (a.kind) {
      case 'wait':
        if (a.reason !== p.lastWait) host.logger.debug({ ...log, reason: a.reason }, 'move waits');
        p.lastWait = a.reason;
        return false;
      case 'transferLeadership':
        host.logger.info({ ...log, to: a.to }, 'move: handing the shard leadership over');
        host.transferLeadership(shard, a.to as NodeId);
        return true;
      case 'addLearner':
        host.logger.info(log, 'move: adding the target as a learner');
        host.changeMembership(shard, { type: 'addLearner', nodeId: a.node as NodeId }, basis);
        return true;
      case 'reconfigure': {
        const changes = [];
        if (a.addVoter !== null) changes.push({ type: 'addVoter' as const, nodeId: a.addVoter as NodeId });
        if (a.removeVoter !== null)
          changes.push({ type: 'removeNode' as const, nodeId: a.removeVoter as NodeId });
        host.logger.info(
          { ...log, joint: a.joint, learnerApplied: o.learnerApplied, leaderApplied: o.leaderApplied },
          'move: changing the voters',
        );
        host.reconfigure(shard, { changes, transition: a.joint ? 'explicit' : 'auto', basis });
        return true;
      }
      case 'leaveJoint':
        host.logger.info(log, 'move: leaving joint consensus');
        host.reconfigure(shard, { changes: [], transition: 'auto', basis });
        return true;
      case 'removeLearner':
        host.logger.info(log, 'move: removing the learner (rolling back)');
        host.changeMembership(shard, { type: 'removeNode', nodeId: a.node as NodeId }, basis);
        return true;
      case 'deleteReplica':
        // The source deletes its data when it reads in the table that the move is at cleanup.
        return false;
      case 'stepDone': {
        const now = host.clock.nowMs();
        await this.change({ kind: 'moveStepDone', shard, moveId: move.id, step: a.step });
        host.logger.info(
          {
            ...log,
            stepMs: now - p.stepStartedMs,
            sinceStartMs: now - p.startedMs,
            caughtUp: learnerCaughtUp(o, move.target ?? ''),
          },
          `move step ${a.step} done`,
        );
        return false;
      }
      case 'rollBack':
        host.logger.warn({ ...log, reason: a.reason }, 'move rolls back');
        await this.change({
          kind: 'abortMove',
          shard,
          moveId: move.id,
          reason: a.reason,
          atMs: host.clock.nowMs(),
        });
        return false;
      case 'done': {
        await this.change({ kind: 'finishMove', shard, moveId: move.id });
        const tookMs = host.clock.nowMs() - p.startedMs;
        host.logger.info(
          { ...log, tookMs, epoch: entry.epoch },
          move.step === 'rollBack' ? 'move rolled back' : 'move done',
        );
        return false;
      }
    }
  }

  /** A table change; a refusal (another node recorded it first, a limit) is logged, not thrown. */
  private async change(change: TableChange): Promise<void> {
    const host = this.host;
    const { seq } = host.requestIds.next();
    const result = await proposeMetadata(
      host,
      { requestId: `rebalance/${change.kind}/${seq}`, op: 'table', change },
      host.clock.nowMs() + TABLE_CHANGE_TIMEOUT_MS,
    );
    if (!result.ok) host.logger.debug({ change, reason: result.reason }, 'the shard table refused a change');
  }
}

/**
 * Whether the move is at a step that may end in cleanup, with its source out of the shard's applied
 * configuration (not joint): then move.ts waits for the voters behind (ShardObservation.votersBehind).
 */
function sourceOut(move: Move, cs: ConfState): boolean {
  return (
    move.source !== null &&
    (move.step === 'reconfigure' || move.step === 'leaveJoint' || move.step === 'rollBack') &&
    cs.votersOutgoing.length === 0 &&
    !cs.voters.includes(move.source as NodeId)
  );
}
