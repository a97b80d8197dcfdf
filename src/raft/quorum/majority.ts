// Majority quorums: the commit index and the vote outcome of one set of voters.

import type { Index, NodeId } from '../types.ts';
import { index } from '../types.ts';

/** Scratch space for majorityCommittedIndex (the core is single-threaded and never re-entered). */
const scratch: number[] = [];

export type VoteResult = 'pending' | 'lost' | 'won';

/** What an empty configuration "commits": everything, so that it never holds a joint config back. */
export const COMMIT_INDEX_UNBOUNDED: Index = index(Number.MAX_SAFE_INTEGER);

/**
 * The largest index acknowledged by a majority of `voters`, given each voter's acknowledged
 * index (missing voters count as 0).
 */
export function majorityCommittedIndex(
  voters: ReadonlySet<NodeId>,
  acked: (id: NodeId) => Index | undefined,
): Index {
  const n = voters.size;
  if (n === 0) return COMMIT_INDEX_UNBOUNDED;
  // Insertion sort (descending) into a reused scratch array: n is tiny and this runs on every
  // append acknowledgement, so avoid allocating and a comparator-driven sort.
  const sorted = scratch;
  let k = 0;
  for (const id of voters) {
    const v = acked(id) ?? 0;
    let j = k++;
    while (j > 0 && sorted[j - 1]! < v) {
      sorted[j] = sorted[j - 1]!;
      j--;
    }
    sorted[j] = v;
  }
  // Sorted descending, the (n/2+1)-th largest is held by a majority.
  return index(sorted[Math.floor(n / 2)]!);
}

/** Won when a majority voted yes, lost when a majority can no longer be reached. Empty configs win. */
export function majorityVoteResult(
  voters: ReadonlySet<NodeId>,
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  if (voters.size === 0) return 'won';
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const quorum = Math.floor(voters.size / 2) + 1;
  if (yes >= quorum) return 'won';
  if (yes + missing >= quorum) return 'pending';
  return 'lost';
}
