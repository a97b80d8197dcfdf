// The public face of the core (etcd's RawNode): inputs (tick, step, propose, …) change state;
// ready() collects the effects the driver must carry out, advance() acknowledges them.
// Contract: after ready(), carry out the Ready (persist, send, apply) and call advance(rd)
// before the next ready().

import { encodeConfChange } from './confchange-codec.ts';
import type { Config } from './config.ts';
import { assert, ProposalDroppedError } from './errors.ts';
import { EMPTY_BYTES, emptyMessage, isLocalMessage, isResponseMessage, payloadBytes } from './messages.ts';
import { Raft } from './raft.ts';
import { leaderAppendDurable } from './replication.ts';
import type { ProgressState } from './tracker/progress.ts';
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Index,
  Message,
  NodeId,
  Ready,
  Role,
  SoftState,
} from './types.ts';
import { index, term } from './types.ts';

export interface ProgressStatus {
  readonly match: Index;
  readonly next: Index;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  /**
   * The leader heard from the peer since its last quorum check (checkQuorum clears it every election
   * timeout; any append or heartbeat response sets it).
   */
  readonly recentActive: boolean;
}

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly leader: NodeId;
  /**
   * This node leads, or heard from `leader` within the election timeout. A learner never campaigns,
   * so its `leader` stays set after the leader has gone silent (or removed it): only this tells.
   */
  readonly leaderHeard: boolean;
  readonly hardState: HardState;
  readonly applied: Index;
  readonly lastIndex: Index;
  readonly confState: ConfState;
  /** Leader only. */
  readonly progress?: ReadonlyMap<NodeId, ProgressStatus>;
  readonly leadTransferee: NodeId;
  /** Leader only (0 otherwise): the index of the latest configuration change it proposed (or of its first entry). */
  readonly pendingConfIndex: Index;
}

type MutableReady = { -readonly [K in keyof Ready]: Ready[K] };

export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  /** A Ready was handed out and not yet advanced. */
  private readyOutstanding = false;

  constructor(config: Config) {
    this.raft = new Raft(config);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (if this node may). */
  campaign(): void {
    this.raft.step(this.local('hup'));
  }

  /** A message from the network. Local-only types and responses from unknown peers are ignored. */
  step(m: Message): void {
    if (isLocalMessage(m.type)) return;
    assert(m.to === this.raft.id, `message for ${m.to} stepped into node ${this.raft.id}`);
    if (isResponseMessage(m.type) && !this.raft.prs.progress.has(m.from)) return;
    this.raft.step(m);
  }

  /** Proposes data for the log; throws ProposalDroppedError if it cannot be accepted now. */
  propose(data: Uint8Array): void {
    this.proposeEntry({ term: term(0), index: index(0), type: 'normal', data });
  }

  /**
   * Proposes several commands as one proposal: on a leader they are appended together and go to
   * each follower in one append (instead of one append, one acknowledgement and one commit update
   * per command). All or none: throws ProposalDroppedError if the batch cannot be accepted now.
   */
  proposeBatch(datas: readonly Uint8Array[]): void {
    if (datas.length === 0) throw new Error('proposeBatch: empty batch');
    const entries: Entry[] = new Array(datas.length);
    for (let i = 0; i < datas.length; i++)
      entries[i] = { term: term(0), index: index(0), type: 'normal', data: datas[i]! };
    this.stepProposal(entries);
  }

  /** Proposes a membership change; throws ProposalDroppedError if it cannot be accepted now. */
  proposeConfChange(cc: ConfChange): void {
    this.proposeEntry({ term: term(0), index: index(0), type: 'confChange', data: encodeConfChange(cc) });
  }

  private proposeEntry(e: Entry): void {
    this.stepProposal([e]);
  }

  private stepProposal(entries: Entry[]): void {
    const id = this.raft.id;
    const reason = this.raft.step(emptyMessage({ type: 'prop', from: id, to: id, entries }));
    if (reason !== undefined) throw new ProposalDroppedError(reason, this.raft.lead);
  }

  /** Requests a linearizable read; a ReadState with this context arrives in a later Ready (or never). */
  readIndex(context: Uint8Array): void {
    const id = this.raft.id;
    this.raft.step(emptyMessage({ type: 'readIndex', from: id, to: id, context }));
  }

  transferLeadership(to: NodeId): void {
    this.raft.step(emptyMessage({ type: 'transferLeader', from: to, to: this.raft.id }));
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step(emptyMessage({ type: 'unreachable', from: id, to: this.raft.id }));
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(emptyMessage({ type: 'snapStatus', from: id, to: this.raft.id, reject: !ok }));
  }

  /** Applies a committed 'confChange' entry's change; returns the new membership. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  hasReady(): boolean {
    const r = this.raft;
    if (r.readHeartbeatDue || r.msgs.length > 0 || r.readStates.length > 0) return true;
    if (r.log.unstableEntries().length > 0 || r.log.hasPendingSnapshot() || r.log.hasNextCommittedEntries())
      return true;
    // Compared field by field: hasReady runs after every input, so it allocates nothing.
    const soft = this.prevSoftState;
    const hard = this.prevHardState;
    return (
      r.lead !== soft.leader ||
      r.role !== soft.role ||
      r.term !== hard.term ||
      r.vote !== hard.vote ||
      r.log.committed !== hard.commit
    );
  }

  ready(): Ready {
    assert(!this.readyOutstanding, 'ready() called again before advance() of the previous Ready');
    const r = this.raft;
    r.flushReads();
    const rd: MutableReady = {
      entries: r.log.unstableEntries().slice(),
      committedEntries: r.log.nextCommittedEntries(r.cfg.maxCommittedSizePerReadyBytes),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: false,
    };
    r.msgs = [];
    r.readStates = [];
    const soft = r.softState();
    if (soft.leader !== this.prevSoftState.leader || soft.role !== this.prevSoftState.role) {
      rd.softState = soft;
      this.prevSoftState = soft;
    }
    const hard = r.hardState();
    if (!hardStateEqual(hard, this.prevHardState)) {
      rd.hardState = hard;
      // Term and vote must be durable before any message that depends on them is sent.
      rd.mustSync = hard.term !== this.prevHardState.term || hard.vote !== this.prevHardState.vote;
      this.prevHardState = hard;
    }
    const snap = r.log.unstable.snapshot;
    if (snap !== undefined) rd.snapshot = snap;
    rd.mustSync = rd.mustSync || rd.entries.length > 0 || snap !== undefined;
    this.readyOutstanding = true;
    return rd;
  }

  /** The driver carried out `rd`: its entries and snapshot are durable, its committed entries applied. */
  advance(rd: Ready): void {
    assert(this.readyOutstanding, 'advance() without a Ready outstanding');
    this.readyOutstanding = false;
    const r = this.raft;
    if (rd.snapshot !== undefined) {
      const at = rd.snapshot.metadata.index;
      r.log.stableSnapTo(at);
      if (at > r.log.applied) r.appliedTo(at, 0);
    }
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) {
      r.log.stableTo(lastEntry.index, lastEntry.term);
      leaderAppendDurable(r, lastEntry.index, lastEntry.term);
    }
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) r.appliedTo(lastApplied.index, payloadBytes(rd.committedEntries));
  }

  /** The last index of the log, entries not yet durable included (what a heartbeat's commit may reach). */
  lastIndex(): Index {
    return this.raft.log.lastIndex();
  }

  status(): Status {
    const r = this.raft;
    const base = {
      id: r.id,
      role: r.role,
      leader: r.lead,
      leaderHeard: r.leaderHeard(),
      hardState: r.hardState(),
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      confState: r.confState(),
      leadTransferee: r.leadTransferee,
      pendingConfIndex: r.role === 'leader' ? r.pendingConfIndex : index(0),
    };
    if (r.role !== 'leader') return base;
    const progress = new Map<NodeId, ProgressStatus>();
    for (const id of r.prs.ids) {
      const pr = r.prs.progress.get(id)!;
      progress.set(id, {
        match: pr.match,
        next: pr.next,
        state: pr.state,
        isLearner: pr.isLearner,
        recentActive: pr.recentActive,
      });
    }
    return { ...base, progress };
  }

  private local(type: Message['type']): Message {
    return emptyMessage({ type, from: this.raft.id, to: this.raft.id, context: EMPTY_BYTES });
  }
}

function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
