// The metadata group's voters. Every member holds the metadata group (it needs the shard table),
// but a quorum of many voters only costs: each metadata change waits for more acknowledgements, and
// an election for more votes. So the group keeps at most METADATA_VOTERS_MAX voters, the ones
// src/ring/rebalance.ts's `metadataVoters` wants (the members up, spread over the zones, the current
// voters kept where the spread allows, a voter down kept while nobody can replace it); the other
// members are its learners. A member joining a group with that many voters becomes a learner
// (membership.ts), and on the metadata leader the rebalancer's round asks `metadataVoterChange` for
// one change at a time towards that set:
//
// 0. a learner that is no member of the table (removed, or never added): remove it. A join's
//    membership steps, still running where an earlier metadata leader admitted the member, can add
//    it back as a learner after a leave removed it; nothing else would take it out again;
// 1. a learner the set wants, once caught up: promote it (first, so that the group never has fewer
//    voters than before: it briefly has one more);
// 2. once every voter the set wants votes: demote a voter it does not want (never this node, the
//    leader, which stays a voter until another takes over the leadership, and never a member still
//    joining, which its join makes a voter before the set can want it).
//
// With at most METADATA_VOTERS_MAX members every member votes, as before. Pure, so that each rule has
// a test of its own (metadata-voters.test.ts).
import type { ConfChangeSingle, NodeId } from '../raft/types.ts';
import { metadataVoters } from '../ring/rebalance.ts';
import { METADATA_VOTERS_MAX, type Member } from '../ring/shard-table.ts';

export { METADATA_VOTERS_MAX };

export interface MetadataVotersInput {
  /** The metadata leader (this node): never demoted here. */
  readonly self: string;
  /** The metadata group's applied configuration (not joint: no change is planned while it is). */
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  /** The table's members (states and zones). */
  readonly members: readonly Member[];
  /** Whether a learner's log is close enough to the leader's to be promoted. */
  readonly caughtUp: (nodeId: string) => boolean;
}

/** The one change to make now, with why (for the log); undefined: the voters are as wanted. */
export function metadataVoterChange(
  i: MetadataVotersInput,
): { readonly change: ConfChangeSingle; readonly why: string } | undefined {
  const current = new Set(i.members.filter((m) => m.state !== 'removed').map((m) => m.nodeId));
  const stray = i.learners.filter((id) => !current.has(id)).sort()[0];
  if (stray !== undefined) {
    return {
      change: { type: 'removeNode', nodeId: stray as NodeId },
      why: `${stray} is a learner of the metadata group but no member of the cluster`,
    };
  }
  // The leader stays a voter: a set without it is chosen again with it as the one current voter
  // among the members up. The current voters down or draining stay current in that choice: the set
  // keeps them while no member up can take their place, so a leader the table still has joining
  // (which neither set can include) does not demote a voter that is down with nobody to replace it.
  const first = metadataVoters(i.members, i.voters);
  const isUp = (id: string): boolean => i.members.some((m) => m.nodeId === id && m.state === 'up');
  const wanted =
    first.includes(i.self) || !i.voters.includes(i.self)
      ? first
      : metadataVoters(i.members, [i.self, ...i.voters.filter((id) => id !== i.self && !isUp(id))]);
  const promote = i.learners.filter((id) => wanted.includes(id) && i.caughtUp(id)).sort()[0];
  if (promote !== undefined) {
    return {
      change: { type: 'addVoter', nodeId: promote as NodeId },
      why: `the metadata voters wanted are ${wanted.join(',')}; ${promote} is a learner`,
    };
  }
  if (wanted.some((id) => !i.voters.includes(id))) return undefined;
  // Not a joining member: its join makes it a voter before it is up (and so before the set wants it).
  const joining = new Set(i.members.filter((m) => m.state === 'joining').map((m) => m.nodeId));
  const demote = i.voters.filter((id) => !wanted.includes(id) && id !== i.self && !joining.has(id)).sort()[0];
  if (demote === undefined) return undefined;
  return {
    change: { type: 'addLearner', nodeId: demote as NodeId },
    why: `the metadata voters wanted are ${wanted.join(',')}; ${demote} is not among them`,
  };
}
