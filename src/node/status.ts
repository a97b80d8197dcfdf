// The node's view of the cluster for ClusterService.Status: members, and per group (the metadata
// group, then the data shards) its leader, membership, term, commit and applied index, and — when
// this node leads the group — each replica's match index and lag behind the leader's log.
import type {
  ClusterSettings,
  ReplicaStatus,
  ShardPlacement,
  ShardStatus,
  StatusResponse,
  WantedMove,
} from '../gen/ringkv/v1/kv.ts';
import { type PlannedMove, plan } from '../ring/rebalance.ts';
import type { ShardEntry, ShardTable } from '../ring/shard-table.ts';
import type { Clock } from './clock.ts';
import type { GroupStatus, NodeIntents } from './intents.ts';
import type { MemberInfo, MetadataState } from './metadata.ts';

/** What Status needs of the node (KvNode implements it). */
export interface StatusHost extends Pick<NodeIntents, 'statuses'> {
  readonly opts: { readonly nodeId: string };
  /** '' until known (a joiner learns it with the metadata). */
  readonly clusterId: string;
  /** Alarms raised on this node (NOSPACE). */
  alarms(): string[];
  /** The node's clock (the planner's backoff after a rollback is on it). */
  readonly clock: Pick<Clock, 'nowMs'>;
  readonly metadata: Pick<MetadataState, 'clusterId' | 'leaderPlacement' | 'table' | 'memberState'> & {
    members(): readonly MemberInfo[];
  };
}

export function nodeStatus(node: StatusHost): StatusResponse {
  return {
    nodeId: node.opts.nodeId,
    clusterId: node.clusterId,
    members: node.metadata.members().map((m) => ({ ...m, state: node.metadata.memberState(m.nodeId) ?? '' })),
    shards: node.statuses().map(groupStatus),
    // Known once the metadata log (or its snapshot) is applied here.
    leaderPlacement: node.metadata.clusterId !== '' ? node.metadata.leaderPlacement : '',
    alarms: node.alarms(),
    placement: node.metadata.table.shards.map(placementOf),
    replicationFactor: node.metadata.table.settings.replicationFactor,
    wantedMoves: node.metadata.clusterId !== '' ? wantedMoves(node.metadata.table, node.clock.nowMs()) : [],
    settings: node.metadata.clusterId !== '' ? settingsOf(node.metadata.table) : undefined,
  };
}

/** The table's settings as Status and Configure give them. */
export function settingsOf(table: ShardTable): ClusterSettings {
  const s = table.settings;
  return {
    shardCount: s.shardCount,
    replicationFactor: s.replicationFactor,
    deadNodeTimeoutMs: BigInt(s.deadNodeTimeoutMs),
    movesInFlightMax: s.movesInFlightMax,
    hashTags: s.hashTags === true,
  };
}

/**
 * The moves the planner would begin or hold back on this table (a node's own planning round also
 * knows the shards' leaders, to spread snapshot sending; without them it assumes each shard's first
 * voter that is up sends, so "senderBusy" may differ from what the metadata leader decides).
 */
function wantedMoves(table: ShardTable, nowMs: number): WantedMove[] {
  const p = plan(table, { nowMs });
  const row = (m: PlannedMove, deferred: string): WantedMove => ({
    shardId: m.shard,
    source: m.source ?? '',
    target: m.target ?? '',
    reason: m.reason,
    detail: m.detail,
    deferred,
  });
  return [...p.start.map((m) => row(m, '')), ...p.deferred.map((m) => row(m, m.deferred))];
}

function placementOf(s: ShardEntry): ShardPlacement {
  const m = s.move;
  return {
    shardId: s.shardId,
    slotFirst: s.slotFirst,
    slotLast: s.slotLast,
    voters: [...s.voters],
    learners: [...s.learners],
    votersOutgoing: [...s.votersOutgoing],
    epoch: BigInt(s.epoch),
    move: m === null ? undefined : { source: m.source ?? '', target: m.target ?? '', step: m.step },
  };
}

function groupStatus(st: GroupStatus): ShardStatus {
  const cs = st.confState;
  const replicas: ReplicaStatus[] = [];
  for (const id of [...cs.voters, ...cs.learners]) {
    const pr = st.progress?.get(id);
    const role = cs.learners.includes(id) ? 'learner' : 'voter';
    const match = pr?.match ?? (id === st.self ? st.lastIndex : 0);
    const lag = pr !== undefined ? Math.max(0, st.lastIndex - pr.match) : 0;
    replicas.push({ nodeId: id, role, match: BigInt(match), lag: BigInt(lag) });
  }
  return {
    shardId: st.id,
    leader: st.leader,
    voters: [...cs.voters],
    learners: [...cs.learners],
    term: BigInt(st.term),
    commit: BigInt(st.commit),
    applied: BigInt(st.applied),
    replicas,
    keys: BigInt(st.keys),
    bytes: BigInt(st.bytes),
  };
}
