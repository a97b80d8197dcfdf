// Which shard replicas answer vote and pre-vote requests.
//
// A replica this node deleted and then hosts again (a move brings the shard back: node.ts
// rehostShard) starts with an empty log but keeps the term of its old one, while a member that
// missed the shard's later configurations (partitioned while this node was moved out) may still
// count this node as a voter. Raft's defence against such a candidate is that a voter's log holds
// every entry it acknowledged, so it refuses a candidate whose log is behind them; that log went
// with the deleted replica, and an empty log grants its vote to any candidate. The stale member
// could then win an election with this vote and overwrite committed entries (found by
// `ringkv sim --nodes 5`, seed 720091: n3 moved out of shard 3 and back while n4 missed both).
//
// So a shard replica answers vote requests only while it is a voter in its own configuration, or
// the shard table names it a voter, or the target of a move past catch-up (its log then holds what
// was committed when it caught up). A replica the table has as a learner, or as a move's target
// still catching up, never counts towards a quorum of the shard's real configuration, so its
// silence costs no election; a request it drops is as if lost. With no table entry yet (a node
// joining), Raft alone decides.
import type { ConfState, NodeId } from '../raft/types.ts';
import type { ShardEntry } from '../ring/shard-table.ts';

export function mayVote(self: NodeId, own: ConfState, entry: ShardEntry | undefined): boolean {
  if (own.voters.includes(self) || own.votersOutgoing.includes(self)) return true;
  if (entry === undefined) return true;
  if (entry.voters.includes(self) || entry.votersOutgoing.includes(self)) return true;
  const m = entry.move;
  return (
    m !== null &&
    m.target === self &&
    (m.step === 'reconfigure' || m.step === 'leaveJoint' || m.step === 'cleanup')
  );
}
