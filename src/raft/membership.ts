// Membership changes (§6 of the Raft paper, etcd's joint consensus). A change is proposed as a
// 'confChange' entry and takes effect when the driver applies it (applyConfChange). At most one
// change is in flight; a leader proposes one only after an entry of its own term committed.

import { type ChangeResult, Changer } from './confchange/changer.ts';
import { decodeConfChange, encodeConfChange } from './confchange-codec.ts';
import { ConfChangeError, type ProposalDropReason } from './errors.ts';
import { emptyMessage } from './messages.ts';
import type { Raft } from './raft.ts';
import { releasePendingReadIndexMessages } from './reads.ts';
import { bcastAppend, maybeCommit, maybeSendAppend } from './replication.ts';
import { isJoint } from './tracker/tracker.ts';
import type { ConfBasis, ConfChange, ConfState, Entry, NodeId } from './types.ts';
import { index, NO_NODE, term } from './types.ts';

/** Computes the configuration a change leads to, or throws ConfChangeError. */
export function computeConfChange(r: Raft, cc: ConfChange): ChangeResult {
  const changer = new Changer(r.prs, r.log.lastIndex());
  if (cc.changes.length === 0) return changer.leaveJoint();
  // Joint consensus when asked for explicitly, or when more than one voter would change (a
  // simple change of one voter keeps every old and new majority overlapping).
  if (cc.transition === 'explicit') return changer.enterJoint(false, cc.changes);
  if (voterDelta(r.prs.config.incoming, cc.changes) > 1) return changer.enterJoint(true, cc.changes);
  return changer.simple(cc.changes);
}

/** How many voters (symmetric difference) the changes would add or remove. */
function voterDelta(voters: ReadonlySet<NodeId>, changes: ConfChange['changes']): number {
  const after = new Set(voters);
  for (const c of changes) {
    if (c.type === 'addVoter') after.add(c.nodeId);
    else after.delete(c.nodeId);
  }
  let n = 0;
  for (const id of voters) if (!after.has(id)) n++;
  for (const id of after) if (!voters.has(id)) n++;
  return n;
}

/** Leader: why a proposed conf change must be refused now, if it must. */
export function checkConfChangeProposal(r: Raft, data: Uint8Array): ProposalDropReason | undefined {
  // Until an entry of this term commits, the leader may not know the latest configuration.
  if (!r.committedEntryInCurrentTerm()) return 'noOwnTermEntryCommitted';
  if (r.pendingConfIndex > r.log.applied) return 'confChangeInFlight';
  let cc: ConfChange;
  try {
    cc = decodeConfChange(data);
  } catch (e) {
    if (e instanceof ConfChangeError) return 'invalidConfChange';
    throw e;
  }
  const joint = isJoint(r.prs.config);
  const leaving = cc.changes.length === 0;
  // A joint configuration is itself a change in flight until it is left.
  if (joint && !leaving) return 'confChangeInFlight';
  if (!joint && leaving) return 'invalidConfChange';
  if (cc.basis !== undefined && !sameMembers(r.prs.confState(), cc.basis)) return 'confChanged';
  try {
    computeConfChange(r, cc);
  } catch (e) {
    if (e instanceof ConfChangeError) return 'invalidConfChange';
    throw e;
  }
  return undefined;
}

/** Whether two configurations have the same members in the same roles (order aside). */
function sameMembers(a: ConfBasis, b: ConfBasis): boolean {
  const same = (x: readonly NodeId[], y: readonly NodeId[]): boolean => {
    const xs = new Set(x);
    const ys = new Set(y);
    return xs.size === x.length && ys.size === y.length && xs.size === ys.size && x.every((id) => ys.has(id));
  };
  return (
    same(a.voters, b.voters) &&
    same(a.votersOutgoing, b.votersOutgoing) &&
    same(a.learners, b.learners) &&
    same(a.learnersNext, b.learnersNext)
  );
}

/** Applies a committed conf change (called by the driver when it applies the entry). */
export function applyConfChangeEntry(r: Raft, cc: ConfChange): ConfState {
  switchToConfig(r, computeConfChange(r, cc));
  return r.prs.confState();
}

/** Installs a new configuration and does what it implies for the leader. */
export function switchToConfig(r: Raft, next: ChangeResult): void {
  r.prs.install(next.config, next.progress);
  const self = r.prs.progress.get(r.id);
  r.isLearner = self?.isLearner === true;
  if (r.isRemovedLeader()) {
    // Removed (or demoted) by a change it has now applied. Like etcd, it does not simply vanish:
    // it keeps replicating (refusing proposals and reads) until a remaining voter holds its whole
    // log, then sends it timeoutNow and steps down (maybeHandOver). Stepping down at once could
    // strand the others: one that lacks the commit of this change still counts the old leader
    // as a voter, and would need its vote while holding a shorter log.
    bcastAppend(r);
    maybeHandOver(r);
    return;
  }
  if ((r.role === 'candidate' || r.role === 'preCandidate') && !r.promotable()) {
    // Removed or demoted while campaigning: the votes it gathers are tallied in the new
    // configuration, whose voters could elect it although it is no voter of theirs. It stops
    // (keeping its term and its vote, as any follower of the term).
    r.becomeFollower(r.term, NO_NODE);
    return;
  }
  if (r.role !== 'leader' || next.config.incoming.size === 0) return;
  // The quorum changed: something may now be committed, and new members need appends.
  if (maybeCommit(r)) {
    releasePendingReadIndexMessages(r);
    bcastAppend(r);
  } else {
    for (const id of r.prs.ids) if (id !== r.id) maybeSendAppend(r, id, false);
  }
  if (r.leadTransferee !== NO_NODE && !r.prs.isVoter(r.leadTransferee)) r.abortLeaderTransfer();
}

/** Removed leader: hands over to the first voter holding its whole log, then steps down. */
export function maybeHandOver(r: Raft): void {
  const last = r.log.lastIndex();
  for (const id of r.prs.voterIds()) {
    if (id !== r.id && r.prs.progress.get(id)!.match === last) {
      r.sendTimeoutNow(id);
      r.becomeFollower(r.term, NO_NODE);
      return;
    }
  }
}

/** Leader: proposes leaving an auto-leave joint configuration once entering it was applied. */
export function maybeAutoLeave(r: Raft): void {
  if (r.role !== 'leader' || !r.prs.config.autoLeave || r.log.applied < r.pendingConfIndex) return;
  const leave: Entry = {
    term: term(0),
    index: index(0),
    type: 'confChange',
    data: encodeConfChange({ changes: [], transition: 'auto' }),
  };
  // May be refused (e.g. during a transfer); it is retried on every tick and apply.
  r.step(emptyMessage({ type: 'prop', from: r.id, to: r.id, entries: [leave] }));
}
