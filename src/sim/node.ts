// One simulated node: a RawNode, its disk, and the driver's Ready loop, written the way the real node
// will run it: persist (and sync when the Ready says so), send, apply committed entries to the KV
// state machine (and conf changes to the core), serve ReadIndex reads once applied, snapshot and
// compact every few entries, advance. Planted driver bugs change exactly one of those steps.

import type { KvOutput } from '../lincheck/types.ts';
import type { Config, MemoryStorage } from '../raft/index.ts';
import { decodeConfChange, RawNode } from '../raft/index.ts';
import type { ConfState, Entry, Message, NodeId, Ready, Role, Snapshot } from '../raft/types.ts';
import { index, NO_NODE } from '../raft/types.ts';
import type { SimBug } from './bugs.ts';
import type { SafetyChecker } from './checker.ts';
import type { SimDisk } from './disk.ts';
import { decodeCommand, KvStateMachine } from './kv.ts';
import type { Prng } from './prng.ts';
import { SimViolation } from './violation.ts';

/** What a waiting client is told: the output, or that the connection to this node was lost. */
export type Reply =
  | { readonly ok: true; readonly output: KvOutput }
  | { readonly ok: false; readonly reason: string };
export type ReplyFn = (reply: Reply) => void;

/** What the node needs from the cluster around it. */
export interface NodeEnv {
  send(from: SimNode, m: Message): void;
  trace(line: string): void;
  onConfChangeApplied(node: SimNode, before: ConfState, after: ConfState): void;
  onLeaderElected(node: SimNode): void;
  /** A client command took effect on this node's state machine (first time anywhere is what counts). */
  onCommandApplied(clientId: number, seq: number): void;
}

export interface NodeSettings {
  readonly electionTick: number;
  readonly heartbeatTick: number;
  /** Take a snapshot (and compact) every this many applied entries. */
  readonly snapshotEveryEntries: number;
  /** Entries kept in the log behind a snapshot, so some followers catch up by log and some by snapshot. */
  readonly compactionLagEntries: number;
  readonly maxSizePerMsgBytes: number;
  readonly maxInflightMsgs: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly snapshotChunkBytesMax: number;
  readonly maxInflightBytes: number;
  readonly maxUncommittedEntriesBytes: number;
  readonly readOnlyOption: 'safe' | 'leaseBased';
  readonly coreBugs: Config['plantedBugs'];
  readonly simBugs: ReadonlySet<SimBug>;
}

/** Bound on Ready rounds in one drive(): the core must quiesce. */
const READY_ROUNDS_MAX = 1_000;
/** Bound on reads waiting for the state machine to catch up. */
const PENDING_READS_MAX = 10_000;

interface PendingRead {
  readonly index: number;
  readonly key: string;
  readonly reply: ReplyFn;
}

export class SimNode {
  readonly id: NodeId;
  readonly disk: SimDisk;
  private readonly env: NodeEnv;
  private readonly settings: NodeSettings;
  private readonly checker: SafetyChecker;
  /** The core's own stream (election timeouts) and the driver's (crash fate, compaction lag). */
  private readonly rngs: { readonly raft: Prng; readonly driver: Prng };
  /** Undefined while the node is down. */
  rn: RawNode | undefined;
  storage: MemoryStorage | undefined;
  kv = new KvStateMachine();
  applied = 0;
  /** The configuration as of `applied` (empty for a new node that has not heard from the group). */
  confState: ConfState;
  role: Role = 'follower';
  leader: NodeId = NO_NODE;
  term = 0;
  commit = 0;
  /** Incarnation: bumped on every start so stale timers of a crashed incarnation are ignored. */
  incarnation = 0;
  /** Permanently stopped (removed from the cluster and shut down by the operator). */
  retired = false;
  /** Virtual milliseconds between this node's ticks (its clock rate). */
  tickMs = 10;
  /** Frozen until this virtual time (a pause); 0 when running normally. */
  pausedUntilMs = 0;
  /** Set by the cluster: true while frozen. */
  paused = false;
  private lastSnapshotIndex = 0;
  private readonly writeWaiters = new Map<string, ReplyFn>();
  private readonly readWaiters = new Map<string, { key: string; reply: ReplyFn }>();
  private pendingReads: PendingRead[] = [];
  private unreachable: NodeId[] = [];
  /** Client replies produced inside a Ready round, delivered after advance() (clients may re-enter). */
  private outbox: (() => void)[] = [];
  private snapshotReports: { to: NodeId; ok: boolean }[] = [];

  constructor(
    id: NodeId,
    disk: SimDisk,
    env: NodeEnv,
    settings: NodeSettings,
    checker: SafetyChecker,
    rngs: { readonly raft: Prng; readonly driver: Prng },
  ) {
    this.id = id;
    this.disk = disk;
    this.env = env;
    this.settings = settings;
    this.checker = checker;
    this.rngs = rngs;
    this.confState = { voters: [], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
  }

  get up(): boolean {
    return this.rn !== undefined;
  }

  /** Starts (or restarts) from what the disk holds. */
  start(): void {
    if (this.rn !== undefined) throw new Error(`${this.id}: start while running`);
    if (this.retired) throw new Error(`${this.id}: start after retirement`);
    const storage = this.disk.loadStorage(this.settings.simBugs.has('forgetVoteOnRestart'));
    const snap = storage.snapshot();
    this.kv = KvStateMachine.deserialize(snap.data);
    this.applied = snap.metadata.index;
    this.lastSnapshotIndex = snap.metadata.index;
    this.confState = storage.initialState().confState;
    this.storage = storage;
    const config: Config = {
      id: this.id,
      storage,
      rng: this.rngs.raft,
      electionTick: this.settings.electionTick,
      heartbeatTick: this.settings.heartbeatTick,
      applied: index(this.applied),
      maxSizePerMsgBytes: this.settings.maxSizePerMsgBytes,
      maxInflightMsgs: this.settings.maxInflightMsgs,
      preVote: this.settings.preVote,
      checkQuorum: this.settings.checkQuorum,
      snapshotChunkBytesMax: this.settings.snapshotChunkBytesMax,
      maxInflightBytes: this.settings.maxInflightBytes,
      maxUncommittedEntriesBytes: this.settings.maxUncommittedEntriesBytes,
      readOnlyOption: this.settings.readOnlyOption,
      ...(this.settings.coreBugs !== undefined ? { plantedBugs: this.settings.coreBugs } : {}),
    };
    this.rn = new RawNode(config);
    this.incarnation++;
    const hs = storage.initialState().hardState;
    this.term = hs.term;
    this.commit = hs.commit;
    this.role = 'follower';
    this.leader = NO_NODE;
    this.checker.onStart(this, this.disk.durableState().hardState.commit);
    this.drive();
  }

  /** Power loss: unsynced writes are lost (maybe torn), waiting clients see the connection drop. */
  crash(tornWrites: boolean): string {
    if (this.rn === undefined) throw new Error(`${this.id}: crash while down`);
    const lost = this.disk.crash(this.rngs.driver, tornWrites);
    this.stop('connection lost: node crashed');
    return lost;
  }

  /** Orderly shutdown for good (after the node was removed from the group). */
  retire(): void {
    if (this.rn !== undefined) {
      this.disk.sync();
      this.stop('node removed from the cluster');
    }
    this.retired = true;
  }

  private stop(reason: string): void {
    this.rn = undefined;
    this.storage = undefined;
    this.role = 'follower';
    this.leader = NO_NODE;
    const writers = [...this.writeWaiters.values()];
    const readers = [...this.readWaiters.values()].map((r) => r.reply);
    this.writeWaiters.clear();
    this.readWaiters.clear();
    this.pendingReads = [];
    this.outbox = [];
    for (const reply of [...writers, ...readers]) reply({ ok: false, reason });
  }

  tick(): void {
    this.core().tick();
    this.drive();
  }

  receive(m: Message): void {
    this.core().step(m);
    this.drive();
  }

  /** The sender learns whether a snapshot transfer reached its target (like a finished stream). */
  reportSnapshot(to: NodeId, ok: boolean): void {
    this.core().reportSnapshot(to, ok);
    this.drive();
  }

  campaign(): void {
    this.core().campaign();
    this.drive();
  }

  transferLeadership(to: NodeId): void {
    this.core().transferLeadership(to);
    this.drive();
  }

  /** Proposes an encoded command; `reply` fires when this node applies it. Throws ProposalDroppedError. */
  proposeWrite(requestKey: string, data: Uint8Array, reply: ReplyFn): void {
    const rn = this.core();
    if (this.writeWaiters.has(requestKey)) throw new Error(`${this.id}: duplicate request ${requestKey}`);
    rn.propose(data);
    this.writeWaiters.set(requestKey, reply);
    this.drive();
  }

  /** Starts a linearizable read of `key`; `reply` fires once the read index has been applied. */
  read(context: string, key: string, reply: ReplyFn): void {
    const rn = this.core();
    if (this.readWaiters.has(context)) throw new Error(`${this.id}: duplicate read context ${context}`);
    if (this.settings.simBugs.has('staleLocalReads')) {
      // PLANTED BUG: a local (serializable) read passed off as linearizable.
      reply({ ok: true, output: this.kv.read(key) });
      return;
    }
    this.readWaiters.set(context, { key, reply });
    rn.readIndex(new TextEncoder().encode(context));
    this.drive();
  }

  /** Forgets a read the client gave up on (so waiters stay bounded). */
  cancelRead(context: string): void {
    this.readWaiters.delete(context);
  }

  /** The ack-before-sync bug's lazy background flush. */
  backgroundSync(): void {
    if (this.rn !== undefined) this.disk.sync();
  }

  reportUnreachable(to: NodeId): void {
    this.unreachable.push(to);
  }

  queueSnapshotReport(to: NodeId, ok: boolean): void {
    this.snapshotReports.push({ to, ok });
  }

  core(): RawNode {
    if (this.rn === undefined) throw new Error(`${this.id}: node is down`);
    return this.rn;
  }

  /** Runs Ready rounds until the core has nothing more to say. */
  drive(): void {
    for (let round = 0; round < READY_ROUNDS_MAX; round++) {
      const rn = this.rn;
      if (rn === undefined) return;
      this.flushReports(rn);
      if (!rn.hasReady()) return;
      this.handleReady(rn, rn.ready());
      this.flushOutbox();
    }
    throw new Error(`${this.id}: core still has a Ready after ${READY_ROUNDS_MAX} rounds`);
  }

  private flushOutbox(): void {
    if (this.outbox.length === 0) return;
    const replies = this.outbox;
    this.outbox = [];
    for (const r of replies) r();
  }

  private flushReports(rn: RawNode): void {
    if (this.unreachable.length > 0) {
      const ids = this.unreachable;
      this.unreachable = [];
      for (const id of ids) rn.reportUnreachable(id);
    }
    if (this.snapshotReports.length > 0) {
      const reports = this.snapshotReports;
      this.snapshotReports = [];
      for (const r of reports) rn.reportSnapshot(r.to, r.ok);
    }
  }

  private handleReady(rn: RawNode, rd: Ready): void {
    // As the real node's driver does: a leader's appends and heartbeats leave before its own write
    // (unless the Ready changes term or vote, or holds a snapshot), so followers write in parallel.
    const early =
      rd.snapshot === undefined &&
      (rd.softState?.role ?? this.role) === 'leader' &&
      (rd.hardState === undefined || rd.hardState.term === this.term);
    const sentEarly = new Set<Message>();
    if (early) {
      for (const m of rd.messages) {
        if (m.type !== 'app' && m.type !== 'heartbeat') continue;
        this.sendChecked(m);
        sentEarly.add(m);
      }
    }
    this.persist(rd);
    if (rd.softState !== undefined) this.onSoftState(rn, rd.softState.role, rd.softState.leader);
    if (rd.messages.length > 0) this.disk.expose();
    for (const m of rd.messages) if (!sentEarly.has(m)) this.sendChecked(m);
    if (rd.snapshot !== undefined) this.restore(rd.snapshot);
    for (const e of rd.committedEntries) this.apply(rn, e);
    if (rd.committedEntries.length > 0) this.serveReads();
    for (const rs of rd.readStates) this.onReadState(rs.index, new TextDecoder().decode(rs.context));
    this.maybeSnapshot();
    rn.advance(rd);
  }

  /**
   * Sends a message; a commit index never leaves ahead of what is durable here (else a crash could
   * lose entries a learner or follower already applied and answered for).
   */
  private sendChecked(m: Message): void {
    if ((m.type === 'app' || m.type === 'heartbeat') && m.commit > this.disk.durableLastIndex()) {
      throw new SimViolation(
        'durability',
        `${this.id} sent ${m.type} to ${m.to} with commit ${m.commit}, beyond its durable log (last ${this.disk.durableLastIndex()})`,
      );
    }
    this.env.send(this, m);
  }

  /** Step 1: durable first. A hard state, entries and snapshot go to disk, then to the core's view. */
  private persist(rd: Ready): void {
    const storage = this.storage as MemoryStorage;
    if (rd.snapshot !== undefined) this.disk.write({ kind: 'snapshot', snapshot: rd.snapshot });
    if (rd.entries.length > 0) this.disk.write({ kind: 'entries', entries: rd.entries });
    if (rd.hardState !== undefined) this.disk.write({ kind: 'hardState', hardState: rd.hardState });
    // The planted ackBeforeSync bug leaves syncing to a background timer: acks go out undurable.
    if (rd.mustSync && !this.settings.simBugs.has('ackBeforeSync')) this.disk.sync();
    if (rd.snapshot !== undefined) storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) storage.append(rd.entries);
    if (rd.hardState !== undefined) {
      storage.setHardState(rd.hardState);
      this.onHardState(rd.hardState.term, rd.hardState.commit);
    }
    if (rd.entries.length > 0) this.checker.onPersistEntries(this, rd.entries);
  }

  private onHardState(newTerm: number, newCommit: number): void {
    if (newCommit < this.commit) {
      throw new SimViolation(
        'commitMonotonic',
        `${this.id}: commit went from ${this.commit} to ${newCommit}`,
      );
    }
    if (newTerm < this.term)
      throw new SimViolation('hardStateRegression', `${this.id}: term ${this.term} -> ${newTerm}`);
    this.term = newTerm;
    const old = this.commit;
    this.commit = newCommit;
    if (newCommit > old) this.checker.onCommit(this, old, newCommit);
  }

  private onSoftState(rn: RawNode, role: Role, leader: NodeId): void {
    const was = this.role;
    this.role = role;
    this.leader = leader;
    if (role === 'leader' && was !== 'leader') {
      const t = rn.status().hardState.term;
      this.env.trace(`${this.id} became leader term=${t}`);
      this.checker.onLeader(this, t);
      this.env.onLeaderElected(this);
    } else if (role !== was) {
      this.env.trace(`${this.id} role ${role} leader=${leader || '-'}`);
    }
  }

  private restore(snap: Snapshot): void {
    const at = snap.metadata.index;
    this.checker.onRestoreSnapshot(this, snap);
    this.kv = KvStateMachine.deserialize(snap.data);
    this.applied = at;
    this.lastSnapshotIndex = at;
    this.confState = snap.metadata.confState;
    this.env.trace(`${this.id} restored snapshot i=${at} t=${snap.metadata.term}`);
    this.serveReads();
  }

  /** Step 3: apply in order; conf changes go back into the core; the waiting client is answered. */
  private apply(rn: RawNode, e: Entry): void {
    if (e.index !== this.applied + 1) {
      throw new SimViolation(
        'stateMachineSafety',
        `${this.id}: applying index ${e.index} after ${this.applied}`,
      );
    }
    this.checker.onApply(this, e);
    this.applied = e.index;
    if (e.type === 'confChange') {
      const before = this.confState;
      this.confState = rn.applyConfChange(decodeConfChange(e.data));
      this.env.onConfChangeApplied(this, before, this.confState);
      return;
    }
    if (e.data.length === 0) return; // a new leader's no-op
    const cmd = decodeCommand(e.data);
    const result = this.kv.apply(cmd);
    if (result !== 'duplicate') this.env.onCommandApplied(cmd.clientId, cmd.seq);
    const key = `${cmd.clientId}:${cmd.seq}`;
    const reply = this.writeWaiters.get(key);
    if (reply !== undefined && result !== 'duplicate') {
      this.writeWaiters.delete(key);
      this.outbox.push(() => reply({ ok: true, output: result }));
    }
  }

  private onReadState(readIndex: number, context: string): void {
    if (!this.readWaiters.has(context)) return; // the client gave up, or another node's context
    if (this.pendingReads.length >= PENDING_READS_MAX) throw new Error(`${this.id}: too many pending reads`);
    const waiter = this.readWaiters.get(context) as { key: string; reply: ReplyFn };
    this.readWaiters.delete(context);
    this.pendingReads.push({ index: readIndex, key: waiter.key, reply: waiter.reply });
    this.serveReads();
  }

  /** Step 4: a read is served once the state machine has applied its read index. */
  private serveReads(): void {
    if (this.pendingReads.length === 0) return;
    const ready = this.pendingReads.filter((r) => r.index <= this.applied);
    if (ready.length === 0) return;
    this.pendingReads = this.pendingReads.filter((r) => r.index > this.applied);
    for (const r of ready) {
      const output = this.kv.read(r.key);
      this.outbox.push(() => r.reply({ ok: true, output }));
    }
  }

  /** Every few entries, snapshot the state machine and drop most of the log behind it. */
  private maybeSnapshot(): void {
    const every = this.settings.snapshotEveryEntries;
    if (every <= 0 || this.applied - this.lastSnapshotIndex < every) return;
    const storage = this.storage as MemoryStorage;
    const at = this.applied;
    const snap = storage.createSnapshot(index(at), this.confState, this.kv.serialize());
    this.checker.onCreateSnapshot(this, snap);
    const compactTo = Math.max(
      this.lastSnapshotIndex,
      at - this.rngs.driver.intBetween(0, this.settings.compactionLagEntries),
    );
    if (compactTo > storage.firstIndex() - 1) storage.compact(index(compactTo));
    this.disk.saveLocalSnapshot(snap, compactTo);
    this.lastSnapshotIndex = at;
  }
}
