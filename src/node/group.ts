// One Raft group hosted by the node: its core (RawNode, private: only the group steps it), its
// in-memory view of the durable log (MemoryStorage), its state machine, and the requests waiting on
// it. The group does no I/O: the driver (driver.ts) persists, sends and applies what the group's
// Ready asks for. A group is typed by its state machine (`Group<R, M>`: M applies commands to
// results of type R), so a proposal's waiter gets the machine's result type, without a cast.
import {
  decodeConfChange,
  type MemoryStorage,
  type PlantedBug,
  ProposalDroppedError,
  RawNode,
} from '../raft/index.ts';
import type {
  ConfChange,
  ConfState,
  Entry,
  Index,
  Message,
  NodeId,
  ReadState,
  Ready,
  Role,
  Snapshot,
  Term,
} from '../raft/types.ts';
import { index, NO_NODE, term } from '../raft/types.ts';
import { assert } from './assert.ts';
import { ResourceExhaustedError, UnavailableError } from './errors.ts';
import type { GroupId } from './ids.ts';
import type { Applied, GroupStatus, GroupView, ReplicaProgress } from './intents.ts';
import type { Random } from './random.ts';
import type { StateMachine } from './state-machine.ts';

export interface GroupConfig<M> {
  readonly groupId: GroupId;
  readonly nodeId: NodeId;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  /** Bytes of entries one append to a peer carries at most (the core's maxSizePerMsgBytes, 1 MiB unless given; one entry always goes). */
  readonly appendBytesMax?: number;
  /** The core's randomness: its election timeouts. */
  readonly random: Random;
  readonly machine: M;
  readonly storage: MemoryStorage;
  /** Applied index to resume from (the snapshot's index on restart). */
  readonly applied: Index;
  /** UNSAFE, the simulator's only (NodeOptions.plantedBugs): the core's planted bugs, for its Config. */
  readonly plantedBugs?: ReadonlySet<PlantedBug>;
}

/**
 * The proposer's side of a queued proposal, settled once (Pending in pending.ts is one). Declared with
 * methods, so that a Group<R, M> is also a Group (of unknown results) to the driver, which never
 * proposes: it only applies, and the machine's result reaches the waiter typed where it was made.
 */
export interface ProposalWaiter<R> {
  readonly done: boolean;
  resolve(applied: Applied<R>): void;
  fail(e: unknown): void;
}

/**
 * A read waiting for its ReadIndex round and then for the state machine to reach the read index.
 * `serve()` runs the read and resolves its pending request (typed where the read was made).
 */
export interface ReadWaiter {
  readonly pending: { readonly done: boolean; fail(e: unknown): void };
  readonly serve: () => void;
}

const READS_IN_FLIGHT_MAX = 10_000;
/** A ReadIndex round unanswered for this many ticks is started again (see retryStaleReads). */
export const READ_RETRY_TICKS = 5;
/** A proposal forwarded to the leader and not applied here within this many ticks is proposed again (see retryProposals). */
export const PROPOSAL_RETRY_TICKS = 5;
/** Bytes of proposals a leader holds uncommitted per group (well below the WAL's bound on unsynced bytes). */
const UNCOMMITTED_BYTES_MAX = 64 * 1024 * 1024;
const encoder = new TextEncoder();

/**
 * A proposal waiting here, from its queueing to its settlement: in `proposalQueue` until the driver
 * hands it to the core, then in `proposals` until a copy of it is applied here (or skipped, or it
 * times out). On a machine that applies each command at most once (`reproposes`), it may be queued
 * again meanwhile, as a copy (see retryProposals).
 */
interface WaitingProposal<R> {
  readonly requestId: string;
  readonly command: Uint8Array;
  readonly pending: ProposalWaiter<R>;
  /** A copy was handed to the core (it may be in some leader's log): a refusal then fails nothing. */
  proposed: boolean;
  /** In proposalQueue now. Invariant: at most one entry of proposalQueue per proposal. */
  queued: boolean;
  /** The group's term when the last copy was handed to the core. */
  term: Term;
  /** The last copy was handed to the core while this node led the group (appended to its own log). */
  asLeader: boolean;
  /** Ticks since the last copy was handed to the core. */
  ticks: number;
}

/** Commands per proposeBatch call, and (roughly) bytes: a refused batch fails only these. */
const PROPOSAL_BATCH_MAX = 1024;
const PROPOSAL_BATCH_BYTES_MAX = 4 * 1024 * 1024;

export class Group<R = unknown, M extends StateMachine<R> = StateMachine<R>> implements GroupView {
  readonly id: GroupId;
  readonly nodeId: NodeId;
  readonly storage: MemoryStorage;
  readonly machine: M;
  private readonly raw: RawNode;
  /** Invariant: grows by one per applied entry (applyEntry), or jumps to an installed snapshot's index. */
  applied: Index;
  /** Configuration as of `applied`. */
  confState: ConfState;
  leader: NodeId = NO_NODE;
  role: Role = 'follower';
  term: Term = term(0);
  /** Index of the newest snapshot held (in memory and on disk). */
  snapshotIndex: Index;
  /** Proposals handed to the core and not yet settled here, by request id. */
  private readonly proposals = new Map<string, WaitingProposal<R>>();
  private proposalQueue: WaitingProposal<R>[] = [];
  /**
   * Whether waiting proposals are proposed again when they may have been lost (retryProposals): only
   * over a machine that applies each command at most once (it keeps proposer sessions: KvMachine),
   * where a second copy can never take effect twice. The metadata group's commands are proposed once.
   */
  private readonly reproposes: boolean;
  private readQueue: ReadWaiter[] = [];
  /** ReadIndex rounds by context; `ticks` counts ticks since the round started. */
  private readonly readsInFlight = new Map<string, { waiters: ReadWaiter[]; ticks: number }>();
  private readsReady: { index: Index; waiters: ReadWaiter[] }[] = [];
  private readCounter = 0;

  constructor(c: GroupConfig<M>) {
    this.id = c.groupId;
    this.nodeId = c.nodeId;
    this.storage = c.storage;
    this.machine = c.machine;
    this.reproposes = c.machine.settled !== undefined;
    this.applied = c.applied;
    const snap = c.storage.snapshotMetadata();
    this.snapshotIndex = snap.index;
    this.confState = snap.confState;
    this.term = c.storage.initialState().hardState.term;
    this.raw = new RawNode({
      id: c.nodeId,
      storage: c.storage,
      rng: c.random,
      electionTick: c.electionTick,
      heartbeatTick: c.heartbeatTick,
      applied: c.applied,
      maxUncommittedEntriesBytes: UNCOMMITTED_BYTES_MAX,
      ...(c.appendBytesMax === undefined ? {} : { maxSizePerMsgBytes: c.appendBytesMax }),
      ...(c.plantedBugs === undefined ? {} : { plantedBugs: c.plantedBugs }),
    });
  }

  isLeader(): boolean {
    return this.role === 'leader';
  }

  // ---- the core's inputs (the node and the driver only) ----------------------------------------------

  /**
   * One tick of the core's clock; then forgets requests that already settled, asks again for the
   * ReadIndex rounds left unanswered for READ_RETRY_TICKS ticks, and proposes again what may have
   * been lost (retryProposals).
   */
  tick(): void {
    this.raw.tick();
    this.dropSettled();
    this.retryStaleReads(READ_RETRY_TICKS);
    if (this.reproposes) this.retryProposals(PROPOSAL_RETRY_TICKS);
  }

  step(m: Message): void {
    this.raw.step(m);
  }

  reportUnreachable(peer: NodeId): void {
    this.raw.reportUnreachable(peer);
  }

  /** Starts an election now (tests; etcd's RawNode.Campaign). */
  campaign(): void {
    this.raw.campaign();
  }

  transferLeadership(to: NodeId): void {
    this.raw.transferLeadership(to);
  }

  /** Throws ProposalDroppedError when the core refuses the change now. */
  proposeConfChange(cc: ConfChange): void {
    this.raw.proposeConfChange(cc);
  }

  hasReady(): boolean {
    return this.raw.hasReady();
  }

  ready(): Ready {
    return this.raw.ready();
  }

  advance(rd: Ready): void {
    this.raw.advance(rd);
  }

  /** A copy of the group's state (see GroupStatus for where each field comes from). */
  status(): GroupStatus {
    const st = this.raw.status();
    const size = this.machine.size?.();
    let progress: Map<NodeId, ReplicaProgress> | undefined;
    if (st.progress !== undefined) {
      progress = new Map();
      for (const [id, pr] of st.progress)
        progress.set(id, { match: pr.match, state: pr.state, recentActive: pr.recentActive });
    }
    return {
      id: this.id,
      self: this.nodeId,
      role: this.role,
      leader: this.leader,
      leaderHeard: st.leaderHeard,
      term: st.hardState.term,
      commit: st.hardState.commit,
      applied: this.applied,
      lastIndex: st.lastIndex,
      confState: this.confState,
      pendingConfIndex: st.pendingConfIndex,
      progress,
      keys: size?.keys ?? 0,
      bytes: size?.bytes ?? 0,
    };
  }

  // ---- requests ------------------------------------------------------------------------------------

  /**
   * Queues a command; `pending` resolves when it is applied here. The driver proposes everything
   * queued in one event-loop turn as one batch (flushProposals), so N concurrent writes cost one
   * append per follower instead of N appends, N acknowledgements and N commit updates. On a follower
   * the core forwards the batch to its leader in one message, and `pending` resolves when this
   * replica applies the entry.
   */
  propose(requestId: string, command: Uint8Array, pending: ProposalWaiter<R>): void {
    this.proposalQueue.push({
      requestId,
      command,
      pending,
      proposed: false,
      queued: true,
      term: this.term,
      asLeader: false,
      ticks: 0,
    });
  }

  hasQueuedProposals(): boolean {
    return this.proposalQueue.length > 0;
  }

  /** Proposals waiting here: queued or proposed, and not yet settled (applied, failed or timed out). O(waiting). */
  proposalsWaiting(): number {
    let n = 0;
    for (const q of this.proposalQueue) if (!q.pending.done && !q.proposed) n++;
    for (const p of this.proposals.values()) if (!p.pending.done) n++;
    return n;
  }

  /**
   * Proposes the queued commands (skipping those whose deadline passed), in batches bounded in
   * count and bytes, so that a refused batch (e.g. over the uncommitted-bytes bound) fails only its
   * own commands. A command refused at its first proposal fails with UnavailableError, retry-safe:
   * it was never appended anywhere. A copy refused stays waiting (its first copy may be in a log).
   */
  flushProposals(): void {
    const queued = this.proposalQueue;
    if (queued.length === 0) return;
    this.proposalQueue = [];
    for (const q of queued) q.queued = false;
    let start = 0;
    // Bounded: each pass consumes at least one queued command.
    while (start < queued.length) {
      let end = start;
      let bytes = 0;
      while (end < queued.length && end - start < PROPOSAL_BATCH_MAX && bytes < PROPOSAL_BATCH_BYTES_MAX) {
        bytes += queued[end]!.command.byteLength;
        end++;
      }
      this.proposeBatch(queued.slice(start, end).filter((q) => !q.pending.done));
      start = end;
    }
  }

  private proposeBatch(batch: readonly WaitingProposal<R>[]): void {
    if (batch.length === 0) return;
    try {
      this.raw.proposeBatch(batch.map((q) => q.command));
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      const err =
        e.reason === 'uncommittedBytesExceeded'
          ? new ResourceExhaustedError(
              `shard ${this.id} holds too many bytes of writes not yet committed (more than ${UNCOMMITTED_BYTES_MAX} bytes); the write was not started: retry after a short wait`,
            )
          : new UnavailableError(`shard ${this.id} did not accept the proposal: ${e.reason}`, {
              retrySafe: true,
            });
      for (const q of batch) if (!q.proposed) q.pending.fail(err);
      return;
    }
    const asLeader = this.role === 'leader';
    for (const q of batch) {
      if (!q.proposed) this.proposals.set(q.requestId, q);
      q.proposed = true;
      q.term = this.term;
      q.asLeader = asLeader;
      q.ticks = 0;
    }
  }

  /** Queues a linearizable read; the driver starts one ReadIndex round per group per turn. */
  queueRead(w: ReadWaiter): void {
    this.readQueue.push(w);
  }

  hasQueuedReads(): boolean {
    return this.readQueue.length > 0;
  }

  /** Starts a ReadIndex round for every read queued since the last one. Returns whether it did. */
  startReadRound(): boolean {
    // Every turn asks every group: nothing allocated for one without reads.
    if (this.readQueue.length === 0) return false;
    const live = this.readQueue.filter((w) => !w.pending.done);
    this.readQueue = [];
    if (live.length === 0) return false;
    if (this.readsInFlight.size >= READS_IN_FLIGHT_MAX) this.dropSettledReads();
    this.readCounter++;
    const ctx = encoder.encode(`r${this.readCounter}`);
    this.readsInFlight.set(ctxKey(ctx), { waiters: live, ticks: 0 });
    this.raw.readIndex(ctx);
    return true;
  }

  /** Read states became safe: serve them now or once the state machine reaches their index. */
  onReadStates(states: readonly ReadState[]): void {
    for (const rs of states) {
      const key = ctxKey(rs.context);
      const round = this.readsInFlight.get(key);
      if (round === undefined) continue;
      this.readsInFlight.delete(key);
      this.readsReady.push({ index: rs.index, waiters: round.waiters });
    }
    this.serveReadyReads();
  }

  serveReadyReads(): void {
    if (this.readsReady.length === 0) return;
    const later: { index: Index; waiters: ReadWaiter[] }[] = [];
    for (const r of this.readsReady) {
      if (r.index > this.applied) {
        later.push(r);
        continue;
      }
      for (const w of r.waiters) if (!w.pending.done) w.serve();
    }
    this.readsReady = later;
  }

  /** Applies one committed entry: a command, a configuration change, or the leader's no-op. */
  applyEntry(e: Entry): void {
    assert(
      e.index === this.applied + 1,
      () => `group ${this.id}: applying index ${e.index} after ${this.applied}: out of order`,
    );
    if (e.type === 'confChange') {
      this.confState = this.raw.applyConfChange(decodeConfChange(e.data));
    } else if (e.data.byteLength > 0) {
      const out = this.machine.apply(e.index, e.data);
      const waiting = this.proposals.get(out.requestId);
      if (waiting !== undefined) {
        this.proposals.delete(out.requestId);
        if (out.skipped === true) waiting.pending.fail(this.notApplied());
        else waiting.pending.resolve({ result: out.result, index: e.index, term: e.term });
      }
    }
    this.applied = e.index;
  }

  /**
   * A waiting proposal's copy was skipped by the machine: this node's session there holds a later
   * command, and no copy of this one was applied here (its waiter would be settled), nor covered by
   * a snapshot installed here (installSnapshot settles those). So it never took effect and never will.
   */
  private notApplied(): UnavailableError {
    return new UnavailableError(
      `shard ${this.id}: the write was not applied and never will be (it was lost or dropped on the way to the shard's leader, and a later write of this node was applied first); nothing was written, retry`,
      { retrySafe: true },
    );
  }

  /** Replaces the state machine with a snapshot installed from the leader. */
  installSnapshot(snap: Snapshot): void {
    // The core restores only a snapshot beyond its commit index, which is at least what is applied.
    assert(
      snap.metadata.index > this.applied,
      `group ${this.id}: installing a snapshot at index ${snap.metadata.index}, not beyond applied ${this.applied}`,
    );
    this.machine.restore(snap.data);
    this.applied = snap.metadata.index;
    this.confState = snap.metadata.confState;
    this.snapshotIndex = snap.metadata.index;
    this.settleBySnapshot();
  }

  /**
   * After a snapshot replaced the state: a waiting proposal the new state settles (applied, or never
   * to be) may have taken effect inside the snapshot, unseen here. It fails as maybe applied, never
   * retry-safe. The others keep waiting: they are not in the snapshot, and may still be applied.
   */
  private settleBySnapshot(): void {
    const settled = this.machine.settled;
    if (settled === undefined) return;
    for (const [id, q] of this.proposals) {
      if (!settled.call(this.machine, id)) continue;
      this.proposals.delete(id);
      q.pending.fail(
        new UnavailableError(
          `shard ${this.id}: this replica caught up from the leader's snapshot, which may hold the write; it may have taken effect: read the key to find out`,
        ),
      );
    }
  }

  /** Fails every waiting request (shutdown). */
  failAll(err: Error): void {
    for (const q of this.proposalQueue) q.pending.fail(err);
    this.proposalQueue = [];
    for (const p of this.proposals.values()) p.pending.fail(err);
    this.proposals.clear();
    for (const w of this.readQueue) w.pending.fail(err);
    this.readQueue = [];
    for (const r of this.readsInFlight.values()) for (const w of r.waiters) w.pending.fail(err);
    this.readsInFlight.clear();
    for (const r of this.readsReady) for (const w of r.waiters) w.pending.fail(err);
    this.readsReady = [];
  }

  /** Forgets requests that already settled (timed out): bounds the maps when Raft drops reads or proposals. */
  private dropSettled(): void {
    for (const [id, p] of this.proposals) if (p.pending.done) this.proposals.delete(id);
    this.dropSettledReads();
  }

  private dropSettledReads(): void {
    for (const [k, r] of this.readsInFlight)
      if (r.waiters.every((w) => w.pending.done)) this.readsInFlight.delete(k);
  }

  /**
   * Called every tick. The core drops a ReadIndex request it cannot serve (no leader yet, a leader
   * that has not committed in its term, a lost message) without telling: rounds that got no answer
   * within `retryTicks` are asked again (a ReadIndex round is idempotent) until their deadline.
   */
  private retryStaleReads(retryTicks: number): void {
    for (const [k, r] of this.readsInFlight) {
      r.ticks++;
      if (r.ticks < retryTicks) continue;
      this.readsInFlight.delete(k);
      for (const w of r.waiters) if (!w.pending.done) this.readQueue.push(w);
    }
  }

  /**
   * Called every tick (over a machine that applies each command at most once). A proposal handed to
   * the core may be lost without a word: a forwarded one on the way to the leader, or dropped there
   * (a leadership transfer under way, its bound on uncommitted bytes, no longer leading); an entry
   * appended by a leader that lost its term may be overwritten. So a proposal is proposed again,
   * the same command under the same request id, when the group's term changed since its last copy,
   * or when that copy was forwarded and nothing was applied for it within `retryTicks`. Every copy
   * but the first to commit is skipped by the machine (src/storage/proposer-sessions.ts), so the
   * command takes effect at most once; a copy that lands after a later write of this node is skipped
   * too, and its waiter then learns that the write never took effect (applyEntry).
   */
  private retryProposals(retryTicks: number): void {
    for (const q of this.proposals.values()) {
      if (q.pending.done || q.queued) continue;
      q.ticks++;
      if (q.term === this.term && (q.asLeader || q.ticks < retryTicks)) continue;
      q.queued = true;
      this.proposalQueue.push(q);
    }
  }

  /** The last index of the durable log (storage). */
  lastIndex(): Index {
    return index(this.storage.lastIndex());
  }

  /** The last index of the core's log: the durable one and entries still being made durable. */
  logLastIndex(): Index {
    return this.raw.lastIndex();
  }
}

function ctxKey(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}
