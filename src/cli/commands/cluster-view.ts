// Turns the Status of every member into the per-node and per-shard view `cluster status` prints.
// Pure: no I/O, so it is tested directly. For each group, the report of its leader (highest term)
// is taken as the truth, since only the leader knows every replica's progress.
import type { MemberStatus, ShardStatus, StatusResponse } from '../../client/index.ts';

export interface NodeRow {
  readonly nodeId: string;
  readonly clientAddr: string;
  readonly raftAddr: string;
  readonly reachable: boolean;
  readonly error?: string;
  /** voter / learner / "voter in k of n groups" / not a replica. */
  readonly role: string;
  /** Data shards this node leads. */
  readonly shardsLed: number;
  /** Highest term over this node's groups (its own view). */
  readonly term?: bigint;
  /** Commit and applied indexes summed over this node's groups (its own view). */
  readonly commit?: bigint;
  readonly applied?: bigint;
  /** Largest lag behind a leader over all groups, as the leaders report it. */
  readonly lag?: bigint;
}

export interface ClusterView {
  readonly clusterId: string;
  /** Data shards (ids >= 1). */
  readonly shardCount: number;
  /** Where the shards' leaders go: spread, pack ('' when no member knew). */
  readonly leaderPlacement: string;
  readonly nodes: readonly NodeRow[];
  /** Every group (0 = metadata), leader's view. */
  readonly shards: readonly ShardStatus[];
  /** Things a person should look at (no leader, unreachable members, learners). */
  readonly problems: readonly string[];
}

/** For each group id, the most authoritative report among the reachable members' statuses. */
export function bestShardReports(statuses: readonly StatusResponse[]): ShardStatus[] {
  const best = new Map<number, { s: ShardStatus; fromLeader: boolean }>();
  for (const st of statuses) {
    for (const s of st.shards) {
      const fromLeader = s.leader !== '' && s.leader === st.nodeId;
      const cur = best.get(s.shardId);
      const better =
        cur === undefined ||
        (fromLeader && !cur.fromLeader) ||
        (fromLeader === cur.fromLeader && s.term > cur.s.term);
      if (better) best.set(s.shardId, { s, fromLeader });
    }
  }
  return [...best.values()].map((b) => b.s).sort((a, b) => a.shardId - b.shardId);
}

function roleOf(nodeId: string, shards: readonly ShardStatus[]): string {
  const voterIn = shards.filter((s) => s.voters.includes(nodeId)).length;
  const learnerIn = shards.filter((s) => s.learners.includes(nodeId)).length;
  if (shards.length > 0 && voterIn === shards.length) return 'voter';
  if (learnerIn > 0) return voterIn > 0 ? `learner in ${learnerIn} of ${shards.length} groups` : 'learner';
  if (voterIn > 0) return `voter in ${voterIn} of ${shards.length} groups`;
  return 'not a replica';
}

/** Math.max is for numbers only; terms are bigints. */
function maxBigint(acc: bigint, s: ShardStatus): bigint {
  if (s.term > acc) return s.term;
  return acc;
}

function lagOf(nodeId: string, shards: readonly ShardStatus[]): bigint | undefined {
  let lag: bigint | undefined;
  for (const s of shards) {
    const r = s.leader === nodeId ? 0n : s.replicas.find((x) => x.nodeId === nodeId)?.lag;
    if (r !== undefined && (lag === undefined || r > lag)) lag = r;
  }
  return lag;
}

function nodeRow(m: MemberStatus, shards: readonly ShardStatus[]): NodeRow {
  const { nodeId, clientAddr, raftAddr } = m.member;
  const base = {
    nodeId,
    clientAddr,
    raftAddr,
    role: roleOf(nodeId, shards),
    shardsLed: shards.filter((s) => s.shardId !== 0 && s.leader === nodeId).length,
  };
  const lag = lagOf(nodeId, shards);
  if ('error' in m)
    return { ...base, reachable: false, error: m.error.message, ...(lag === undefined ? {} : { lag }) };
  const own = m.status.shards;
  const sum = (f: (s: ShardStatus) => bigint) => own.reduce((acc, s) => acc + f(s), 0n);
  return {
    ...base,
    reachable: true,
    term: own.reduce(maxBigint, 0n),
    commit: sum((s) => s.commit),
    applied: sum((s) => s.applied),
    ...(lag === undefined ? {} : { lag }),
  };
}

export function buildClusterView(cluster: StatusResponse, members: readonly MemberStatus[]): ClusterView {
  const reachable = members.flatMap((m) => ('status' in m ? [m.status] : []));
  const shards = bestShardReports(reachable.length > 0 ? reachable : [cluster]);
  const nodes = members.map((m) => nodeRow(m, shards));
  const problems: string[] = [];
  for (const s of shards) {
    if (s.leader === '')
      problems.push(`${s.shardId === 0 ? 'metadata group' : `shard ${s.shardId}`} has no leader`);
  }
  for (const n of nodes) {
    if (!n.reachable) problems.push(`${n.nodeId} (${n.clientAddr}) did not answer: ${n.error ?? ''}`);
    else if (n.role !== 'voter') problems.push(`${n.nodeId} is ${n.role}`);
  }
  const placement = [cluster, ...reachable].find((st) => st.leaderPlacement !== '')?.leaderPlacement ?? '';
  return {
    clusterId: cluster.clusterId,
    shardCount: shards.filter((s) => s.shardId !== 0).length,
    leaderPlacement: placement,
    nodes,
    shards,
    problems,
  };
}
