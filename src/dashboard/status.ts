// What the dashboard's /api/status answers: the cluster as `ringkv cluster status` sees it (the same
// view, src/client/cluster-view.ts: members, each group's best report, problems), joined with the
// shard table (replicas, moves in flight) and each member's request rates. Pure: the statuses and
// the rates come in, a JSON-ready object goes out (numbers, strings and arrays only: no bigint).
import assert from 'node:assert/strict';
import {
  buildClusterView,
  type MemberStatus,
  type ShardPlacement,
  type ShardStatus,
  type StatusResponse,
} from '../client/index.ts';
import type { LoadRates } from './load-rates.ts';

/** Members listed (the rest counted in `membersOmitted`); a cluster this large is not drawn anyway. */
export const MEMBERS_SHOWN_MAX = 128;
/** Groups listed (the rest counted in `shardsOmitted`): `serve --shards` allows 1024 data shards. */
export const SHARDS_SHOWN_MAX = 1025;
/** Problem lines listed (the rest counted in one last line). */
export const PROBLEMS_SHOWN_MAX = 50;

export interface DashboardMember {
  readonly nodeId: string;
  readonly clientAddr: string;
  readonly raftAddr: string;
  readonly zone: string;
  /** As the metadata group records it: joining, up, draining or down ('' when unknown). */
  readonly state: string;
  /** It answered its Status within the bound just now. */
  readonly up: boolean;
  /** Why it did not answer (when not up). */
  readonly error: string | null;
  /** voter, learner, "voter in k of n groups", not a replica (the cluster view's words). */
  readonly role: string;
  readonly shardsLed: number;
  /** Its rates since the previous sample; null when not up or not yet known (the first sample). */
  readonly load: LoadRates | null;
}

export interface DashboardShard {
  /** 0: the metadata group. */
  readonly shardId: number;
  /** '' when no leader is known. */
  readonly leader: string;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  /** The outgoing voters of a joint configuration (a replica move between its halves). */
  readonly votersOutgoing: readonly string[];
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  /** Live keys and their bytes, as the reporting replica holds them (0 for the metadata group). */
  readonly keys: number;
  readonly bytes: number;
  /** Largest lag of a replica behind the leader, in entries (0 without a leader's report). */
  readonly lagMax: number;
  /** The move in flight on it; null when none. */
  readonly move: DashboardMove | null;
  /** The hash slots it owns, inclusive (the ring's arc); -1 for the metadata group or when unknown. */
  readonly slotFirst: number;
  readonly slotLast: number;
}

export interface DashboardMove {
  readonly shardId: number;
  /** '' when the move only adds a replica. */
  readonly source: string;
  /** '' when the move only removes one. */
  readonly target: string;
  /** addLearner, catchUp, reconfigure, leaveJoint, cleanup or rollBack. */
  readonly step: string;
}

export interface DashboardStatus {
  /** The node that gathered this (the one serving the page). */
  readonly servedBy: string;
  readonly clusterId: string;
  /** When the statuses were gathered, ms since the epoch (the serving node's clock). */
  readonly sampledAtMs: number;
  readonly shardCount: number;
  /** Voters per data shard wanted (R); 0 while unknown. */
  readonly replicationFactor: number;
  readonly leaderPlacement: string;
  readonly failuresTolerated: number;
  readonly groupsWithoutLeader: number;
  /** The cluster's problems, one line each, as `cluster status` prints them; empty when healthy. */
  readonly problems: readonly string[];
  readonly members: readonly DashboardMember[];
  readonly membersOmitted: number;
  readonly shards: readonly DashboardShard[];
  readonly shardsOmitted: number;
  /** Replica moves in flight (the shard table's). */
  readonly moves: readonly DashboardMove[];
  /** Moves the rebalancer wants and has not begun. */
  readonly movesWanted: number;
}

/**
 * The dashboard's status from `cluster` (the Status that named the members) and every member's own
 * (`members`, in the cluster's order), with `rates` per node id.
 */
export function dashboardStatus(
  servedBy: string,
  cluster: StatusResponse,
  members: readonly MemberStatus[],
  rates: ReadonlyMap<string, LoadRates>,
  sampledAtMs: number,
): DashboardStatus {
  const view = buildClusterView(cluster, members);
  const reachable = members.flatMap((m) => ('status' in m ? [m.status] : []));
  const table = [cluster, ...reachable].find((s) => s.placement.length > 0)?.placement ?? [];
  const placed = new Map(table.map((p) => [p.shardId, p]));
  const stateOf = new Map(cluster.members.map((m) => [m.nodeId, m.state ?? '']));
  const shown = view.nodes.slice(0, MEMBERS_SHOWN_MAX).map(
    (n): DashboardMember => ({
      nodeId: n.nodeId,
      clientAddr: n.clientAddr,
      raftAddr: n.raftAddr,
      zone: members.find((m) => m.member.nodeId === n.nodeId)?.member.zone ?? '',
      state: stateOf.get(n.nodeId) ?? '',
      up: n.reachable,
      error: n.reachable ? null : (n.error ?? 'no answer'),
      role: n.role,
      shardsLed: n.shardsLed,
      load: n.reachable ? (rates.get(n.nodeId) ?? null) : null,
    }),
  );
  assert.equal(
    new Set(shown.map((m) => m.nodeId)).size,
    shown.length,
    `each member listed once: ${shown.map((m) => m.nodeId).join(', ')}`,
  );
  const problems =
    view.problems.length <= PROBLEMS_SHOWN_MAX
      ? view.problems
      : [
          ...view.problems.slice(0, PROBLEMS_SHOWN_MAX - 1),
          `and ${view.problems.length - PROBLEMS_SHOWN_MAX + 1} more (ringkv cluster status lists them all)`,
        ];
  return {
    servedBy,
    clusterId: view.clusterId,
    sampledAtMs,
    shardCount: view.shardCount,
    replicationFactor: cluster.replicationFactor,
    leaderPlacement: view.leaderPlacement,
    failuresTolerated: view.failuresTolerated,
    groupsWithoutLeader: view.groupsWithoutLeader,
    problems,
    members: shown,
    membersOmitted: view.nodes.length - shown.length,
    shards: view.shards.slice(0, SHARDS_SHOWN_MAX).map((s) => shardOf(s, placed.get(s.shardId))),
    shardsOmitted: Math.max(0, view.shards.length - SHARDS_SHOWN_MAX),
    moves: table.flatMap((p) => (p.move === undefined ? [] : [moveOf(p)])),
    movesWanted: cluster.wantedMoves.length,
  };
}

/** A group's report, with its replicas as the shard table places them when the table has it. */
function shardOf(s: ShardStatus, p: ShardPlacement | undefined): DashboardShard {
  let lagMax = 0n;
  for (const r of s.replicas) if (r.lag > lagMax) lagMax = r.lag;
  return {
    shardId: s.shardId,
    leader: s.leader,
    voters: p?.voters ?? s.voters,
    learners: p?.learners ?? s.learners,
    votersOutgoing: p?.votersOutgoing ?? [],
    term: Number(s.term),
    commit: Number(s.commit),
    applied: Number(s.applied),
    keys: Number(s.keys),
    bytes: Number(s.bytes),
    lagMax: Number(lagMax),
    move: p?.move === undefined ? null : moveOf(p),
    slotFirst: p?.slotFirst ?? -1,
    slotLast: p?.slotLast ?? -1,
  };
}

function moveOf(p: ShardPlacement): DashboardMove {
  return {
    shardId: p.shardId,
    source: p.move?.source ?? '',
    target: p.move?.target ?? '',
    step: p.move?.step ?? '',
  };
}
