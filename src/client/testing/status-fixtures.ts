// Status messages for tests: a shard's placement in the table, a group's report and a node's whole
// answer, each with neutral defaults a test overrides field by field.
import type { ShardPlacement, ShardStatus, StatusResponse } from '../../gen/ringkv/v1/kv.ts';

/** Shard `shardId` on `voters` in the table: epoch 1, no learner, no move. */
export function placementOf(
  shardId: number,
  voters: string[],
  over: Partial<ShardPlacement> = {},
): ShardPlacement {
  return {
    shardId,
    slotFirst: 0,
    slotLast: 0,
    voters,
    learners: [],
    votersOutgoing: [],
    epoch: 1n,
    move: undefined,
    ...over,
  };
}

/** Group `shardId` as a member reports it: `voters`, led by `leader`, term, commit and applied 1. */
export function groupReport(
  shardId: number,
  voters: string[],
  leader = voters[0] ?? '',
  over: Partial<ShardStatus> = {},
): ShardStatus {
  return {
    shardId,
    leader,
    voters,
    learners: [],
    term: 1n,
    commit: 1n,
    applied: 1n,
    replicas: [],
    keys: 0n,
    bytes: 0n,
    ...over,
  };
}

/** Node `nodeId`'s Status: cluster 'c', spread, R = 3, nothing else unless given. */
export function statusReport(nodeId: string, over: Partial<StatusResponse> = {}): StatusResponse {
  return {
    nodeId,
    clusterId: 'c',
    members: [],
    shards: [],
    leaderPlacement: 'spread',
    alarms: [],
    placement: [],
    replicationFactor: 3,
    wantedMoves: [],
    settings: undefined,
    ...over,
  };
}
