// Leader side of linearizable reads. 'safe' (default): ReadIndex (§6.4) — record the commit
// index, confirm leadership with a heartbeat round, then release the read. 'leaseBased': answer
// at once, relying on checkQuorum's lease (clock-drift sensitive, so off by default).
// A new leader does not know the latest commit index until an entry of its term commits, so
// reads wait in `pendingReadIndexMessages` until then.

import type { Raft } from './raft.ts';
import { PENDING_READS_MAX } from './readonly.ts';
import { bcastHeartbeatWithContext } from './replication.ts';
import type { Index, Message, ReadState } from './types.ts';
import { NO_NODE } from './types.ts';

export type { ReadState };

export function handleReadIndex(r: Raft, m: Message): void {
  if (r.isRemovedLeader()) return; // it no longer knows what the group commits: dropped
  if (r.prs.isSingleton()) {
    respond(r, m, r.log.committed);
    return;
  }
  if (!r.committedEntryInCurrentTerm()) {
    // Bounded: beyond the bound the request is dropped and its caller times out.
    if (r.pendingReadIndexMessages.length < PENDING_READS_MAX) r.pendingReadIndexMessages.push(m);
    return;
  }
  queueRead(r, m);
}

function queueRead(r: Raft, m: Message): void {
  if (r.cfg.readOnlyOption === 'leaseBased' && leaseValid(r)) {
    respond(r, m, r.log.committed);
    return;
  }
  // Safe path (also the fallback when the lease has lapsed): confirm with a heartbeat round.
  const token = r.readOnly.add(r.log.committed, m);
  if (token === undefined) return; // queue full: dropped, the caller times out
  r.readOnly.recvAck(r.id, token);
  // One heartbeat round per Ready confirms every read queued meanwhile (see flushReadHeartbeat).
  r.readHeartbeatDue = true;
}

/**
 * Ticks of margin subtracted from the lease for clock drift between nodes (and for the order in
 * which nodes tick within one tick).
 */
export const LEASE_DRIFT_MARGIN_TICKS = 1;

/**
 * Lease (thesis §6.4.1): a follower that received a heartbeat sent at leader tick T ignores
 * votes for electionTick ticks after receiving it, so no other leader can be elected before
 * T + electionTick once a quorum acknowledged heartbeats sent at T or later. Never during a
 * transfer (the target campaigns through the followers' leases).
 */
export function leaseValid(r: Raft): boolean {
  if (r.leadTransferee !== NO_NODE) return false;
  const start = r.prs.leaseStart(r.id, r.leaderTicks);
  return start > 0 && r.leaderTicks - start < r.cfg.electionTick - LEASE_DRIFT_MARGIN_TICKS;
}

/** Called once an entry of the leader's term has committed. */
export function releasePendingReadIndexMessages(r: Raft): void {
  if (r.pendingReadIndexMessages.length === 0 || !r.committedEntryInCurrentTerm()) return;
  const waiting = r.pendingReadIndexMessages;
  r.pendingReadIndexMessages = [];
  for (const m of waiting) queueRead(r, m);
}

/** Sends the heartbeat round for reads queued since the last Ready (batched ReadIndex). */
export function flushReadHeartbeat(r: Raft): void {
  if (!r.readHeartbeatDue) return;
  r.readHeartbeatDue = false;
  const ctx = r.readOnly.lastPendingToken();
  if (r.role === 'leader' && ctx !== undefined) bcastHeartbeatWithContext(r, ctx);
}

/** A heartbeat ack carrying a read token: release every read confirmed by a quorum. */
export function confirmReadsByHeartbeat(r: Raft, m: Message): void {
  // Also with leaseBased: reads outside the lease take this path too.
  if (m.context.byteLength === 0 || r.readOnly.size === 0) return;
  const acks = r.readOnly.recvAck(m.from, m.context);
  if (acks === undefined || r.prs.voteResultOf(acks) !== 'won') return;
  for (const status of r.readOnly.advance(m.context)) respond(r, status.request, status.index);
}

function respond(r: Raft, req: Message, at: Index): void {
  if (req.from === NO_NODE || req.from === r.id) {
    r.readStates.push({ index: at, context: req.context });
    return;
  }
  const resp = r.message('readIndexResp', req.from);
  resp.index = at;
  resp.context = req.context;
  r.send(resp);
}
