// The Raft protocol state machine of one node: roles, terms, elections and message dispatch.
// Replication, reads, snapshot transfer and membership live in sibling files as functions over
// this class, so each stays one concept. Everything is synchronous and deterministic: effects
// accumulate in `msgs`/`readStates` and the log, and RawNode hands them out as a Ready.

import { restoreConfState } from './confchange/restore.ts';
import { type Config, type ResolvedConfig, resolveConfig } from './config.ts';
import { assert, type ProposalDropReason } from './errors.ts';
import { RaftLog } from './log.ts';
import { applyConfChangeEntry, maybeAutoLeave, switchToConfig } from './membership.ts';
import { bytesEqual, EMPTY_BYTES, emptyMessage, type MutableMessage, voteResponseType } from './messages.ts';
import { ReadOnlyQueue } from './readonly.ts';
import { flushReadHeartbeat, handleReadIndex, type ReadState as ReadStateT } from './reads.ts';
import {
  appendEntries,
  bcastAppend,
  bcastHeartbeat,
  handleAppendEntries,
  handleAppendResponse,
  handleHeartbeat,
  handleHeartbeatResponse,
  leaderPropose,
  sendAppend,
} from './replication.ts';
import {
  handleSnapStatus,
  handleSnapshotChunk,
  type SnapshotAssembly,
  tickSnapshotTransfers,
} from './snapshot-transfer.ts';
import { ProgressTracker } from './tracker/tracker.ts';
import type {
  ConfChange,
  ConfState,
  HardState,
  Index,
  Message,
  NodeId,
  Role,
  SoftState,
  Term,
} from './types.ts';
import { index, NO_NODE, term } from './types.ts';

/** Marks vote requests of a leadership transfer, which may break a follower's leader lease. */
export const CAMPAIGN_TRANSFER: Uint8Array = new TextEncoder().encode('CampaignTransfer');

type CampaignKind = 'preElection' | 'election' | 'transfer';

export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  readonly log: RaftLog;
  readonly prs: ProgressTracker;
  /** Invariant: never decreases. */
  term: Term = term(0);
  /** Whom this node voted for in `term`; NO_NODE if nobody. */
  vote: NodeId = NO_NODE;
  role: Role = 'follower';
  lead: NodeId = NO_NODE;
  isLearner = false;
  /** Leader only: the node leadership is being handed to, NO_NODE if none. */
  leadTransferee: NodeId = NO_NODE;
  /** Leader only: index of the latest conf change proposed; a new one waits until it is applied. */
  pendingConfIndex: Index = index(0);
  /** Leader only: payload bytes appended but not yet committed and applied. */
  uncommittedSizeBytes = 0;
  readOnly = new ReadOnlyQueue();
  /** ReadIndex requests that arrived before an entry of this leader's term committed. */
  pendingReadIndexMessages: Message[] = [];
  /** A heartbeat round confirming pending reads is due (sent once per Ready: batching). */
  readHeartbeatDue = false;
  readStates: ReadStateT[] = [];
  msgs: Message[] = [];
  /** Ticks since the last election timeout reset (leader: since the last quorum check). */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  /** Drawn from [electionTick, 2*electionTick) on every reset. */
  randomizedElectionTimeout = 0;
  /**
   * Leader only: its clock for lease reads, in ticks since it became leader (starts at 1 so that
   * 0 can mean "never"). Heartbeats carry it and followers echo it back.
   */
  leaderTicks = 0;
  /** Follower only: the snapshot being received in chunks. */
  assembly: SnapshotAssembly | undefined = undefined;

  constructor(config: Config) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    this.log = new RaftLog(this.cfg.storage);
    this.prs = new ProgressTracker(this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes);
    const { hardState, confState } = this.cfg.storage.initialState();
    switchToConfig(this, restoreConfState(this.prs, confState, this.log.lastIndex()));
    this.loadHardState(hardState);
    // An applied index at or below the snapshot is already implied by it.
    if (this.cfg.applied > this.log.applied) {
      assert(
        this.cfg.applied <= this.log.committed,
        `config.applied ${this.cfg.applied} > commit ${this.log.committed}`,
      );
      this.log.appliedTo(this.cfg.applied);
    }
    this.becomeFollower(this.term, NO_NODE);
  }

  private loadHardState(hs: HardState): void {
    assert(
      hs.commit <= this.log.lastIndex(),
      `hard state commit ${hs.commit} beyond last index ${this.log.lastIndex()}`,
    );
    this.log.commitTo(hs.commit);
    this.term = hs.term;
    this.vote = hs.vote;
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  confState(): ConfState {
    return this.prs.confState();
  }

  // ---- effects ----------------------------------------------------------------------------

  /** A message from this node to `to`, zero-valued otherwise; `send` stamps the term. */
  message(type: Message['type'], to: NodeId): MutableMessage {
    return emptyMessage({ type, from: this.id, to }) as MutableMessage;
  }

  send(m: MutableMessage): void {
    assert(m.to !== this.id, `node ${this.id} sending ${m.type} to itself`);
    assert(m.to !== NO_NODE, `node ${this.id} sending ${m.type} to no node`);
    if (m.type === 'vote' || m.type === 'preVote' || m.type === 'voteResp' || m.type === 'preVoteResp') {
      // Election messages carry the term they are about, which may be ahead of ours (pre-vote).
      assert(m.term !== 0, `${m.type} from ${this.id} without a term`);
    } else if (m.type !== 'prop' && m.type !== 'readIndex') {
      // Proposals and read requests are forwarded term-less: they are not bound to a term.
      m.term = this.term;
    }
    this.msgs.push(m);
  }

  /**
   * The log lost its entries from `from` on (a leader of a later term overwrote them, or a snapshot
   * replaced them) while acknowledgements of them wait in `msgs`, to be sent after this Ready
   * persists: they would vouch for entries this node no longer holds, and a leader of their term
   * (cut off from the later one) could count them into a quorum. They are dropped, as the network
   * may drop any message; an acknowledgement made since vouches for the log as it now is.
   */
  forgetAcksFrom(from: Index): void {
    this.msgs = this.msgs.filter((m) => m.type !== 'appResp' || m.reject || m.index < from);
  }

  // ---- time -------------------------------------------------------------------------------

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.leaderTicks++;
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.checkQuorum();
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== NO_NODE) this.abortLeaderTransfer();
    }
    if (this.role !== 'leader') return;
    tickSnapshotTransfers(this);
    maybeAutoLeave(this);
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      bcastHeartbeat(this);
    }
  }

  /** Leader: step down unless a quorum was heard from during the last election timeout. */
  private checkQuorum(): void {
    // A leader that removed itself keeps leading until it has handed over (see membership.ts):
    // stepping down while the others cannot reach it could leave them unable to elect anyone.
    if (!this.prs.quorumActive() && !this.isRemovedLeader()) {
      this.becomeFollower(this.term, NO_NODE);
      return;
    }
    for (const id of this.prs.ids) {
      if (id !== this.id) this.prs.progress.get(id)!.recentActive = false;
    }
  }

  /** Whether this node may become leader: a voter, not waiting on a snapshot. */
  promotable(): boolean {
    const pr = this.prs.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.log.hasPendingSnapshot();
  }

  private resetRandomizedElectionTimeout(): void {
    const base = this.cfg.electionTick;
    this.randomizedElectionTimeout = base + this.cfg.rng.nextInt(base);
    assert(
      this.randomizedElectionTimeout >= base && this.randomizedElectionTimeout < 2 * base,
      `rng gave election timeout ${this.randomizedElectionTimeout} outside [${base}, ${2 * base})`,
    );
  }

  // ---- roles ------------------------------------------------------------------------------

  private reset(t: Term): void {
    assert(t >= this.term, `term regression on ${this.id}: ${this.term} -> ${t}`);
    if (t !== this.term) {
      this.term = t;
      this.vote = NO_NODE;
    }
    this.lead = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.prs.resetVotes();
    // Our own match starts at our last index even if its tail is not yet durable (as etcd): those
    // entries are of earlier terms and cannot commit by counting (§5.4.2); this term's entries
    // count only once durable (leaderAppendDurable).
    const last = this.log.lastIndex();
    for (const id of this.prs.ids) {
      this.prs.progress.get(id)!.resetTo(index(last + 1), id === this.id ? last : index(0));
    }
    this.pendingConfIndex = index(0);
    this.uncommittedSizeBytes = 0;
    this.readOnly = new ReadOnlyQueue();
    this.pendingReadIndexMessages = [];
    this.readHeartbeatDue = false;
    this.leaderTicks = 0;
  }

  becomeFollower(t: Term, lead: NodeId): void {
    this.reset(t);
    this.lead = lead;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', `${this.id}: leader cannot become pre-candidate`);
    // A pre-election changes neither term nor vote: it only asks whether an election could win.
    this.prs.resetVotes();
    this.lead = NO_NODE;
    this.role = 'preCandidate';
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', `${this.id}: leader cannot become candidate`);
    this.reset(term(this.term + 1));
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role !== 'follower', `${this.id}: follower cannot become leader directly`);
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    this.leaderTicks = 1;
    const self = this.prs.progress.get(this.id);
    assert(self !== undefined, `${this.id} became leader without being a member`);
    self.becomeReplicate();
    self.recentActive = true;
    // Conservatively treat every entry up to here as a possible conf change (§6 of the paper):
    // no new change is accepted until all of them are applied.
    this.pendingConfIndex = this.log.lastIndex();
    // The no-op entry lets this term commit and so commits every earlier entry (§5.4.2, §8).
    const ok = appendEntries(this, [{ term: term(0), index: index(0), type: 'normal', data: EMPTY_BYTES }]);
    assert(ok, 'the empty no-op entry was refused by the uncommitted-bytes bound');
  }

  /** A leader that applied its own removal (or demotion) and waits to hand over. */
  isRemovedLeader(): boolean {
    if (this.role !== 'leader') return false;
    const self = this.prs.progress.get(this.id);
    return self === undefined || self.isLearner;
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NO_NODE;
  }

  committedEntryInCurrentTerm(): boolean {
    return this.log.termAt(this.log.committed) === this.term;
  }

  // ---- elections --------------------------------------------------------------------------

  private hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable() || this.hasUnappliedConfChanges()) return;
    this.campaign(transfer ? 'transfer' : this.cfg.preVote ? 'preElection' : 'election');
  }

  /** An unapplied conf change may remove this node; campaigning before applying it is unsafe. */
  private hasUnappliedConfChanges(): boolean {
    let lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    const hi = this.log.committed + 1;
    const pageBytes = this.cfg.maxCommittedSizePerReadyBytes;
    while (lo < hi) {
      const page = this.log.slice(index(lo), index(hi), pageBytes);
      for (const e of page) if (e.type === 'confChange') return true;
      lo = page[page.length - 1]!.index + 1;
    }
    return false;
  }

  private campaign(kind: CampaignKind): void {
    let voteType: 'vote' | 'preVote';
    let voteTerm: Term;
    if (kind === 'preElection') {
      this.becomePreCandidate();
      voteType = 'preVote';
      voteTerm = term(this.term + 1); // the term we would campaign in; our own term stays put
    } else {
      this.becomeCandidate();
      voteType = 'vote';
      voteTerm = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      // A single-voter group wins at once.
      if (kind === 'preElection') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.prs.voterIds()) {
      if (id === this.id) continue;
      const m = this.message(voteType, id);
      m.term = voteTerm;
      m.index = lastIndex;
      m.logTerm = lastTerm;
      if (kind === 'transfer') m.context = CAMPAIGN_TRANSFER;
      this.send(m);
    }
  }

  private poll(id: NodeId, granted: boolean): 'pending' | 'lost' | 'won' {
    this.prs.recordVote(id, granted);
    return this.prs.tallyVotes().result;
  }

  private handleVoteRequest(m: Message): void {
    const bugs = this.cfg.plantedBugs;
    let canVote =
      this.vote === m.from ||
      (this.vote === NO_NODE && this.lead === NO_NODE) ||
      (m.type === 'preVote' && m.term > this.term);
    if (bugs.has('voteTwiceInTerm') && m.type === 'vote' && this.role !== 'leader') {
      // PLANTED BUG (simulator only): grants a vote although one was already cast in this term.
      canVote = true;
    }
    let upToDate = this.log.isUpToDate(m.index, m.logTerm);
    if (bugs.has('skipLogUpToDateCheck')) {
      // PLANTED BUG (simulator only): votes without checking the candidate's log (§5.4.1).
      upToDate = true;
    }
    const resp = this.message(voteResponseType(m.type), m.from);
    if (canVote && upToDate) {
      resp.term = m.term;
      this.send(resp);
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      resp.term = this.term;
      resp.reject = true;
      // What this node knows is committed, and the term of that entry: a candidate whose log holds
      // the same entry learns it is committed (learnCommit). A refusal may come from a node that left
      // the configuration and alone knows that its removal committed; without this, a candidate that
      // still runs the joint configuration may need that node's vote, which its longer log refuses.
      // (No further than the stable log: no commit index leaves a node beyond what it holds durably.)
      resp.commit = index(Math.min(this.log.committed, this.log.storage.lastIndex()));
      resp.logTerm = this.log.termAt(resp.commit) ?? term(0);
      this.send(resp);
    }
  }

  /**
   * A refused (pre-)vote names the voter's commit index and the term of its entry there. When our
   * log holds an entry at that index with that term, by the Log Matching property our log equals the
   * voter's up to it, and the voter learnt that index from a leader that committed it: so it is
   * committed here too. Learning it lets this node apply what it lacked (a configuration that no
   * longer needs the voters gone), so its next campaign can succeed.
   */
  private learnCommit(m: Message): void {
    if (m.commit <= this.log.committed || m.commit > this.log.lastIndex()) return;
    if (m.logTerm === 0 || !this.log.matchTerm(m.commit, m.logTerm)) return;
    this.log.commitTo(m.commit);
  }

  // ---- message dispatch -------------------------------------------------------------------

  /**
   * Steps one message (local input or from a peer). Returns why a proposal was dropped, if it
   * was; every other outcome is reflected in state and in `msgs`.
   */
  step(m: Message): ProposalDropReason | undefined {
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return undefined;
    } else if (m.term !== 0 && m.term < this.term) {
      this.stepLowerTerm(m);
      return undefined;
    }
    switch (m.type) {
      case 'hup':
        this.hup(false);
        return undefined;
      case 'vote':
      case 'preVote':
        this.handleVoteRequest(m);
        return undefined;
      default:
        if (this.role === 'leader') return this.stepLeader(m);
        if (this.role === 'follower') return this.stepFollower(m);
        return this.stepCandidate(m);
    }
  }

  /** Returns false when the message must be ignored. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === 'vote' || m.type === 'preVote') {
      const force = bytesEqual(m.context, CAMPAIGN_TRANSFER);
      // Leader stickiness: while a leader was heard from within the election timeout, a
      // disruptive candidate (e.g. one rejoining from a partition) does not depose it.
      const inLease =
        this.cfg.checkQuorum && this.lead !== NO_NODE && this.electionElapsed < this.cfg.electionTick;
      if (!force && inLease) return false;
    }
    if (m.type === 'preVote') {
      // Never change term on a pre-vote request.
    } else if (m.type === 'preVoteResp' && !m.reject) {
      // The term is bumped when the real election starts after a pre-vote quorum.
    } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
      this.becomeFollower(m.term, m.from);
    } else {
      this.becomeFollower(m.term, NO_NODE);
    }
    return true;
  }

  private stepLowerTerm(m: Message): void {
    if (m.type === 'heartbeat' || m.type === 'app') {
      // We advanced our term (e.g. campaigning in a partition) and now hear from the leader of
      // an older term: answering tells it our term, so it steps down and the group re-elects at
      // a term we accept. Unlike etcd we answer even without checkQuorum/pre-vote: etcd relies
      // on our vote requests reaching the leader, which never happens when our configuration
      // is stale (its other voters are gone) — we would stay stranded forever.
      this.send(this.message('appResp', m.from));
    } else if (m.type === 'preVote' || m.type === 'vote') {
      // Reject with our term (§5.1). For a real vote this also tells the candidate our term, so
      // its next campaign can win our vote: staying silent (as etcd does) can leave a group
      // leaderless for long when our votes only reach voters that are gone (stale config).
      const resp = this.message(m.type === 'vote' ? 'voteResp' : 'preVoteResp', m.from);
      resp.term = this.term;
      resp.reject = true;
      this.send(resp);
    }
  }

  private stepLeader(m: Message): ProposalDropReason | undefined {
    switch (m.type) {
      case 'beat':
        bcastHeartbeat(this);
        return undefined;
      case 'checkQuorum':
        this.checkQuorum();
        return undefined;
      case 'prop':
        return leaderPropose(this, m);
      case 'readIndex':
        handleReadIndex(this, m);
        return undefined;
      default:
    }
    const pr = this.prs.progress.get(m.from);
    if (pr === undefined) return undefined;
    switch (m.type) {
      case 'appResp':
        handleAppendResponse(this, m, pr);
        break;
      case 'heartbeatResp':
        handleHeartbeatResponse(this, m, pr);
        break;
      case 'snapStatus':
        handleSnapStatus(m, pr);
        break;
      case 'unreachable':
        // Optimistic streaming probably lost messages: fall back to probing.
        if (pr.state === 'replicate') pr.becomeProbe();
        break;
      case 'transferLeader':
        this.handleTransferLeader(m.from);
        break;
      default:
    }
    return undefined;
  }

  private handleTransferLeader(transferee: NodeId): void {
    const pr = this.prs.progress.get(transferee);
    if (pr === undefined || pr.isLearner) return; // a learner cannot lead
    if (this.leadTransferee !== NO_NODE) {
      if (this.leadTransferee === transferee) return; // already in progress
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return; // already leader
    // The transfer must finish within one election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else sendAppend(this, transferee);
  }

  sendTimeoutNow(to: NodeId): void {
    this.send(this.message('timeoutNow', to));
  }

  private stepFollower(m: Message): ProposalDropReason | undefined {
    switch (m.type) {
      case 'prop':
      case 'transferLeader':
      case 'readIndex':
        if (this.lead === NO_NODE) return m.type === 'prop' ? 'noLeader' : undefined;
        this.forward(m);
        return undefined;
      case 'app':
        this.heardFromLeader(m.from);
        handleAppendEntries(this, m);
        return undefined;
      case 'heartbeat':
        this.heardFromLeader(m.from);
        handleHeartbeat(this, m);
        return undefined;
      case 'snap':
        this.heardFromLeader(m.from);
        handleSnapshotChunk(this, m);
        return undefined;
      case 'timeoutNow':
        // The leader asked us to take over: campaign now, skipping the pre-vote.
        this.hup(true);
        return undefined;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, context: m.context });
        return undefined;
      default:
        return undefined;
    }
  }

  /** This node leads, or heard from its leader within the election timeout. */
  leaderHeard(): boolean {
    if (this.role === 'leader') return true;
    return this.lead !== NO_NODE && this.electionElapsed < this.cfg.electionTick;
  }

  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.lead = from;
  }

  private forward(m: Message): void {
    const f = emptyMessage({ ...m, to: this.lead, term: term(0) }) as MutableMessage;
    this.send(f);
  }

  private stepCandidate(m: Message): ProposalDropReason | undefined {
    const myResponse = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'prop':
        return 'noLeader';
      case 'app':
        this.becomeFollower(m.term, m.from);
        handleAppendEntries(this, m);
        return undefined;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        handleHeartbeat(this, m);
        return undefined;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        handleSnapshotChunk(this, m);
        return undefined;
      default:
    }
    if (m.type !== myResponse) return undefined;
    if (m.reject) this.learnCommit(m);
    const result = this.poll(m.from, !m.reject);
    if (result === 'won') {
      if (this.role === 'preCandidate') {
        this.campaign('election');
      } else {
        this.becomeLeader();
        bcastAppend(this);
      }
    } else if (result === 'lost') {
      // A pre-vote response may carry a higher term; we stay at ours.
      this.becomeFollower(this.term, NO_NODE);
    }
    return undefined;
  }

  // ---- membership and application ---------------------------------------------------------

  /** The driver applied entries up to `i` (payload bytes `appliedBytes`). */
  appliedTo(i: Index, appliedBytes: number): void {
    this.log.appliedTo(i);
    this.uncommittedSizeBytes = Math.max(0, this.uncommittedSizeBytes - appliedBytes);
    maybeAutoLeave(this);
  }

  applyConfChange(cc: ConfChange): ConfState {
    return applyConfChangeEntry(this, cc);
  }

  flushReads(): void {
    flushReadHeartbeat(this);
  }
}
