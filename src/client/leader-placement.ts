// Where the shards' leaders go, cluster-wide (ClusterService.SetLeaderPlacement). The node keeps its
// own copy of this list (src/node/metadata.ts: the client may not import the node); a CLI test
// checks that the two agree.

/** 'spread': evenly over the members; 'pack': all on one node. */
export type LeaderPlacement = 'spread' | 'pack';

export const LEADER_PLACEMENTS: readonly LeaderPlacement[] = ['spread', 'pack'];

export function isLeaderPlacement(v: unknown): v is LeaderPlacement {
  return typeof v === 'string' && (LEADER_PLACEMENTS as readonly string[]).includes(v);
}
