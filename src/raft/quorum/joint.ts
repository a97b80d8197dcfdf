// Joint quorums (§6 of the Raft paper): during a membership change a decision needs a majority
// of the incoming AND of the outgoing voters. An empty outgoing set places no constraint.

import type { Index, NodeId } from '../types.ts';
import { index } from '../types.ts';
import { majorityCommittedIndex, majorityVoteResult, type VoteResult } from './majority.ts';

export interface JointVoters {
  readonly incoming: ReadonlySet<NodeId>;
  readonly outgoing: ReadonlySet<NodeId>;
}

export function jointCommittedIndex(voters: JointVoters, acked: (id: NodeId) => Index | undefined): Index {
  const a = majorityCommittedIndex(voters.incoming, acked);
  const b = majorityCommittedIndex(voters.outgoing, acked);
  return index(Math.min(a, b));
}

export function jointVoteResult(voters: JointVoters, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const a = majorityVoteResult(voters.incoming, votes);
  const b = majorityVoteResult(voters.outgoing, votes);
  if (a === b) return a;
  if (a === 'lost' || b === 'lost') return 'lost';
  return 'pending';
}

/** All voters of both halves, sorted for deterministic visiting. */
export function jointVoterIds(voters: JointVoters): NodeId[] {
  const all = new Set<NodeId>(voters.incoming);
  for (const id of voters.outgoing) all.add(id);
  return [...all].sort();
}
