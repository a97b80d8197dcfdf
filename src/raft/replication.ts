// Log replication (§5.3): the leader appends proposals and streams them to followers under flow
// control; followers check the log matching property and answer with hints for fast back-off.
// Commitment follows §5.4.2: only entries of the leader's own term commit by counting replicas.

import { assert, EntriesTemporarilyUnavailableError, type ProposalDropReason } from './errors.ts';
import { checkConfChangeProposal, maybeHandOver } from './membership.ts';
import { EMPTY_BYTES, entriesSizeBytes, payloadBytes } from './messages.ts';
import type { Raft } from './raft.ts';
import { confirmReadsByHeartbeat, releasePendingReadIndexMessages } from './reads.ts';
import { maybeSendSnapshot } from './snapshot-transfer.ts';
import type { Progress } from './tracker/progress.ts';
import type { Entry, Index, Message, NodeId, Term } from './types.ts';
import { index, NO_NODE } from './types.ts';

const NO_ENTRIES: Entry[] = [];

/**
 * Leader: stamps entries with term and index, appends them and counts them as uncommitted.
 * Returns false (appending nothing) when the uncommitted-bytes bound would be exceeded.
 */
export function appendEntries(r: Raft, entries: readonly Entry[]): boolean {
  const bytes = payloadBytes(entries);
  // At least one proposal is always admitted when nothing is uncommitted, so that one large
  // entry cannot be refused forever.
  if (
    r.uncommittedSizeBytes > 0 &&
    bytes > 0 &&
    r.uncommittedSizeBytes + bytes > r.cfg.maxUncommittedEntriesBytes
  ) {
    return false;
  }
  r.uncommittedSizeBytes += bytes;
  const first = r.log.lastIndex() + 1;
  const stamped: Entry[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    stamped[i] = { term: r.term, index: index(first + i), type: e.type, data: e.data };
  }
  const last = r.log.append(stamped);
  // The leader's own copy does not count towards the quorum yet: only once the driver reports it
  // durable (leaderAppendDurable, from advance). Counted now, a one-voter group would commit at
  // once and could tell a learner (or apply and answer) before its only durable copy exists.
  if (r.cfg.plantedBugs.has('countOwnAppendEarly')) {
    // PLANTED BUG (simulator only): counts the leader's own append at once, before it is durable.
    r.prs.progress.get(r.id)?.maybeUpdate(last);
    maybeCommit(r);
  }
  return true;
}

/**
 * Leader: its own log is durable up to `i` (of term `t`), as the driver reported by advancing past
 * a Ready holding it. Only now does that copy count towards the quorum (etcd 3.6 self-acknowledges
 * after the write in the same way), so no commit index ever covers an entry that is not durable on
 * a quorum.
 */
export function leaderAppendDurable(r: Raft, i: Index, t: Term): void {
  if (r.role !== 'leader' || r.log.termAt(i) !== t) return; // deposed, or the entry was replaced
  const self = r.prs.progress.get(r.id);
  if (self === undefined || !self.maybeUpdate(i)) return;
  assert(self.match <= r.log.lastIndex(), `self match ${self.match} beyond last ${r.log.lastIndex()}`);
  if (maybeCommit(r)) {
    releasePendingReadIndexMessages(r);
    bcastAppend(r);
  }
}

/** Leader: handles a proposal ('prop'); returns why it was dropped, if it was. */
export function leaderPropose(r: Raft, m: Message): ProposalDropReason | undefined {
  assert(m.entries.length > 0, `empty proposal from ${m.from}`);
  if (r.isRemovedLeader()) return 'notLeader'; // removed from the group, handing over
  if (r.leadTransferee !== NO_NODE) return 'transferring';
  let confIndex = -1;
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]!;
    if (e.type !== 'confChange') continue;
    const reason = confIndex >= 0 ? 'confChangeInFlight' : checkConfChangeProposal(r, e.data);
    if (reason !== undefined) return reason;
    confIndex = i;
  }
  const first = r.log.lastIndex() + 1;
  if (!appendEntries(r, m.entries)) return 'uncommittedBytesExceeded';
  if (confIndex >= 0) r.pendingConfIndex = index(first + confIndex);
  bcastAppend(r);
  return undefined;
}

/** Leader: advances commit to what a quorum holds, if that entry is of the current term. */
export function maybeCommit(r: Raft): boolean {
  const quorumIndex = r.prs.committed();
  if (r.cfg.plantedBugs.has('commitPreviousTermByCount')) {
    // PLANTED BUG (simulator only): commits by counting replicas whatever the entry's term (Figure 8).
    const target = Math.min(quorumIndex, r.log.lastIndex());
    if (target <= r.log.committed) return false;
    r.log.commitTo(index(target));
    return true;
  }
  return r.log.maybeCommit(quorumIndex, r.term);
}

export function bcastAppend(r: Raft): void {
  for (const id of r.prs.ids) if (id !== r.id) sendAppend(r, id);
}

export function sendAppend(r: Raft, to: NodeId): void {
  maybeSendAppend(r, to, true);
}

/**
 * Leader: sends the follower the next entries it lacks, if flow control allows. With
 * sendIfEmpty, an empty append still goes out (to carry the commit index or probe). Nothing goes
 * out while the entries the follower needs are read back from disk (EntriesTemporarilyUnavailable).
 * Returns whether a message was sent.
 */
export function maybeSendAppend(r: Raft, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = r.prs.progress.get(to);
  assert(pr !== undefined, `append to untracked node ${to}`);
  if (pr.isPaused()) return false;
  const prevIndex = index(pr.next - 1);
  assert(
    prevIndex <= r.log.lastIndex(),
    `${to}: next ${pr.next} beyond leader's last index ${r.log.lastIndex()}`,
  );
  const prevTerm = r.log.termAt(prevIndex);
  if (prevTerm === undefined) return maybeSendSnapshot(r, to, pr);
  let entries: Entry[] = NO_ENTRIES;
  // A throttled stream sends only empty appends: if every in-flight append was lost, the
  // follower's answer to an empty one (ack or reject) clears the Inflights again.
  if (pr.state !== 'replicate' || !pr.inflights.full()) {
    let got: Entry[] | undefined;
    try {
      got = r.log.entriesFrom(pr.next, r.cfg.maxSizePerMsgBytes);
    } catch (e) {
      // Being read back from disk: nothing now; the follower's next heartbeat response asks again.
      if (e instanceof EntriesTemporarilyUnavailableError) return false;
      throw e;
    }
    if (got === undefined) return maybeSendSnapshot(r, to, pr);
    entries = got;
  }
  if (entries.length === 0 && !sendIfEmpty) return false;
  const m = r.message('app', to);
  m.index = prevIndex;
  m.logTerm = prevTerm;
  m.entries = entries;
  m.commit = r.log.committed;
  r.send(m);
  pr.sentCommit = r.log.committed;
  const last = entries.length === 0 ? prevIndex : entries[entries.length - 1]!.index;
  pr.sentEntries(entries.length, last, entries.length === 0 ? 0 : entriesSizeBytes(entries));
  return true;
}

export function bcastHeartbeat(r: Raft): void {
  bcastHeartbeatWithContext(r, r.readOnly.lastPendingToken() ?? EMPTY_BYTES);
}

export function bcastHeartbeatWithContext(r: Raft, context: Uint8Array): void {
  for (const id of r.prs.ids) {
    if (id === r.id) continue;
    const pr = r.prs.progress.get(id)!;
    const m = r.message('heartbeat', id);
    // Never tell a follower to commit beyond what it is known to hold.
    m.commit = index(Math.min(pr.match, r.log.committed));
    m.context = context;
    // Lease reads: the follower echoes the send time, so an ack proves when it last heard from us.
    if (r.cfg.readOnlyOption === 'leaseBased') m.index = index(r.leaderTicks);
    r.send(m);
    if (m.commit > pr.sentCommit) pr.sentCommit = m.commit;
  }
}

export function handleAppendResponse(r: Raft, m: Message, pr: Progress): void {
  pr.recentActive = true;
  if (m.reject) {
    let nextProbe = m.rejectHint;
    // Fast back-off: skip every entry of the terms the follower cannot have (etcd §"probing").
    if (m.hintTerm > 0) nextProbe = r.log.findConflictByTerm(m.rejectHint, m.hintTerm)[0];
    if (pr.maybeDecrTo(m.index, nextProbe)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      sendAppend(r, m.from);
    }
    return;
  }
  if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === 'probe')) return;
  if (pr.state === 'probe') {
    pr.becomeReplicate();
  } else if (pr.state === 'snapshot' && pr.match + 1 >= r.log.firstIndex()) {
    // The follower caught up by snapshot (or otherwise): stream from its match point.
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === 'replicate') {
    pr.inflights.freeLE(m.index);
  }
  if (maybeCommit(r)) {
    releasePendingReadIndexMessages(r);
    bcastAppend(r);
  } else if (m.from !== r.id && pr.canBumpCommit(r.log.committed)) {
    // This follower was not sent the current commit index yet (it was paused when we committed).
    sendAppend(r, m.from);
  }
  // Flow control may now allow several (size-bounded) appends at once.
  for (let i = 0; i < r.cfg.maxInflightMsgs && maybeSendAppend(r, m.from, false); i++);
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) r.sendTimeoutNow(m.from);
  if (r.isRemovedLeader()) maybeHandOver(r);
}

export function handleHeartbeatResponse(r: Raft, m: Message, pr: Progress): void {
  pr.recentActive = true;
  pr.msgAppFlowPaused = false;
  // Also re-sends when the Inflights are full: an empty append lets a stalled stream recover.
  if (pr.match < r.log.lastIndex() || pr.state === 'probe') sendAppend(r, m.from);
  if (m.index > pr.leaseAckTick) pr.leaseAckTick = m.index;
  confirmReadsByHeartbeat(r, m);
  if (r.isRemovedLeader()) maybeHandOver(r);
}

/** Follower: AppendEntries (§5.3). */
export function handleAppendEntries(r: Raft, m: Message): void {
  const resp = r.message('appResp', m.from);
  if (m.index < r.log.committed) {
    resp.index = r.log.committed;
    r.send(resp);
    return;
  }
  const appended = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (appended !== undefined) {
    // Acknowledgements of entries this append overwrote, still queued, must not go out
    // (Raft.forgetAcksFrom).
    if (appended.overwroteFrom !== 0) r.forgetAcksFrom(index(appended.overwroteFrom));
    resp.index = appended.lastNew;
    r.send(resp);
    return;
  }
  // Mismatch at m.index: hint the largest index whose term is <= the leader's term there, so
  // the leader can skip a whole conflicting term in one round trip.
  const probeFrom = index(Math.min(m.index, r.log.lastIndex()));
  const [hintIndex, hintTerm] = r.log.findConflictByTerm(probeFrom, m.logTerm);
  resp.index = m.index;
  resp.reject = true;
  resp.rejectHint = hintIndex;
  resp.hintTerm = hintTerm;
  r.send(resp);
}

/** Follower: heartbeat from the leader; commit what it says (bounded by our match there). */
export function handleHeartbeat(r: Raft, m: Message): void {
  r.log.commitTo(m.commit as Index);
  const resp = r.message('heartbeatResp', m.from);
  resp.context = m.context;
  resp.index = m.index; // echo of the leader's lease clock (0 unless lease reads are on)
  r.send(resp);
}
