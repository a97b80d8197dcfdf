// Turns the Status of every member (RingkvClient.statusOfEveryMember) into the per-node and
// per-shard view that `ringkv cluster status` prints and the admin port's dashboard shows, with the
// cluster's problems in words. Pure: no I/O, so it is tested directly. For each group, the report
// of its leader (highest term) is taken as the truth, since only the leader knows every replica's
// progress.
import type { ShardPlacement, ShardStatus, StatusResponse } from '../gen/ringkv/v1/kv.ts';
import { METADATA_VOTERS_MAX } from '../ring/shard-table.ts';
import type { MemberStatus } from './client.ts';

export interface NodeRow {
  readonly nodeId: string;
  readonly clientAddr: string;
  readonly raftAddr: string;
  readonly reachable: boolean;
  readonly error?: string;
  /** voter / learner / "voter in k of n groups" / metadata learner (the metadata group is full) / not a replica. */
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
  /** The ringkv release the node runs (absent when it did not answer, or is older than the field). */
  readonly version?: string;
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
  /** Groups (the metadata group included) that have no leader. */
  readonly groupsWithoutLeader: number;
  /** Nodes that may still fail (voters of every group) before some group loses its quorum. */
  readonly failuresTolerated: number;
  /**
   * Things a person should look at, one line each: groups without a leader, members that did not
   * answer, members that are not voters, and a line starting "warning:" when the cluster cannot
   * survive another failure. Empty when healthy (`cluster status` exits 0 only then).
   */
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

/**
 * The node's role over the groups it should be a voter of: the metadata group (unless it has
 * METADATA_VOTERS_MAX voters without this node, which is then its learner by design) and the shards
 * the shard table places on it (every group when no member reported a table). `metadata learner`: a
 * member that should be a voter of none (no shard placed on it, the metadata group full).
 */
function roleOf(nodeId: string, all: readonly ShardStatus[], table: readonly ShardPlacement[]): string {
  const placed = new Set(table.filter((p) => p.voters.includes(nodeId)).map((p) => p.shardId));
  const meta = all.find((s) => s.shardId === 0);
  const metaFull =
    meta !== undefined && meta.voters.length >= METADATA_VOTERS_MAX && !meta.voters.includes(nodeId);
  const shards = (
    table.length === 0 ? all : all.filter((s) => s.shardId === 0 || placed.has(s.shardId))
  ).filter((s) => !(s.shardId === 0 && metaFull && s.learners.includes(nodeId)));
  if (shards.length === 0 && metaFull && meta?.learners.includes(nodeId)) return 'metadata learner';
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

function nodeRow(m: MemberStatus, shards: readonly ShardStatus[], table: readonly ShardPlacement[]): NodeRow {
  const { nodeId, clientAddr, raftAddr } = m.member;
  const base = {
    nodeId,
    clientAddr,
    raftAddr,
    role: roleOf(nodeId, shards, table),
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
    ...(m.status.version === undefined ? {} : { version: m.status.version }),
  };
}

export function buildClusterView(cluster: StatusResponse, members: readonly MemberStatus[]): ClusterView {
  const reachable = members.flatMap((m) => ('status' in m ? [m.status] : []));
  const shards = bestShardReports(reachable.length > 0 ? reachable : [cluster]);
  const table = [cluster, ...reachable].find((st) => st.placement.length > 0)?.placement ?? [];
  const nodes = members.map((m) => nodeRow(m, shards, table));
  const leaderless = shards.filter((s) => s.leader === '').map((s) => s.shardId);
  const problems: string[] = [];
  if (leaderless.length > 0) {
    problems.push(
      `${leaderless.length} of ${shards.length} groups have no leader (${groupList(leaderless)}): ` +
        'their writes and linearizable reads fail until a majority of their voters can reach each other',
    );
  }
  for (const n of nodes) {
    if (!n.reachable) problems.push(`${n.nodeId} (${n.clientAddr}) did not answer: ${n.error ?? ''}`);
    else if (n.role !== 'voter' && n.role !== 'metadata learner') problems.push(`${n.nodeId} is ${n.role}`);
  }
  // The member states the table records (the metadata leader marks a member down after the
  // dead-node timeout; a leave drains one).
  for (const m of cluster.members) {
    if (m.state === 'down')
      problems.push(
        `${m.nodeId} is down: not heard from for longer than the dead-node timeout; its replicas are re-created on the others (ringkv cluster rebalance --dry-run)`,
      );
    else if (m.state === 'draining')
      problems.push(`warning: ${m.nodeId} is draining: it is leaving, its replicas move away`);
  }
  for (const m of members) {
    if (!('status' in m)) continue;
    for (const alarm of m.status.alarms) {
      problems.push(
        alarm === 'NOSPACE'
          ? `${m.member.nodeId} has the NOSPACE alarm: too little disk for its log, it refuses writes until space is freed`
          : `${m.member.nodeId} has the ${alarm} alarm`,
      );
    }
  }
  const answered = new Set(nodes.filter((n) => n.reachable).map((n) => n.nodeId));
  const tolerance = faultTolerance(shards, answered);
  const warning = toleranceWarning(tolerance, shards, answered);
  if (warning !== undefined) problems.push(warning);
  const placement = [cluster, ...reachable].find((st) => st.leaderPlacement !== '')?.leaderPlacement ?? '';
  return {
    clusterId: cluster.clusterId,
    shardCount: shards.filter((s) => s.shardId !== 0).length,
    leaderPlacement: placement,
    nodes,
    shards,
    groupsWithoutLeader: leaderless.length,
    failuresTolerated: Math.max(0, tolerance),
    problems,
  };
}

/** Majority of `voters` voters. */
export function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * How many more voters can be lost, in the group where that number is smallest, before a group
 * loses its quorum: min over groups of (voters that answered − quorum). Negative when some group
 * has already lost it; 0 when the next failure of one of its voters stops it.
 */
export function faultTolerance(shards: readonly ShardStatus[], answered: ReadonlySet<string>): number {
  let min = Number.POSITIVE_INFINITY;
  for (const s of shards) {
    const up = s.voters.filter((v) => answered.has(v)).length;
    min = Math.min(min, up - quorumOf(s.voters.length));
  }
  return min === Number.POSITIVE_INFINITY ? 0 : min;
}

/** The warning line when the cluster cannot survive another failure, or undefined. */
function toleranceWarning(
  tolerance: number,
  shards: readonly ShardStatus[],
  answered: ReadonlySet<string>,
): string | undefined {
  if (tolerance >= 1 || shards.length === 0) return undefined;
  const voters = [...new Set(shards.flatMap((s) => s.voters))].sort();
  const missing = voters.filter((v) => !answered.has(v));
  const most = Math.max(...shards.map((s) => s.voters.length));
  if (missing.length === 0) {
    return (
      `warning: the cluster cannot survive the failure of any node: a group of ${most} voter${most === 1 ? '' : 's'} ` +
      `needs ${quorumOf(most)} of them; add nodes (3 voters survive one failure, 5 survive two)`
    );
  }
  const upIn = (s: ShardStatus): number => s.voters.filter((v) => answered.has(v)).length;
  const worst = shards.filter((s) => upIn(s) - quorumOf(s.voters.length) === tolerance);
  const w = worst[0]!;
  const which =
    worst.length === shards.length
      ? 'every group has'
      : `${worst.length} of ${shards.length} groups (${groupList(worst.map((s) => s.shardId))}) have`;
  const what =
    tolerance < 0
      ? `${worst.length} of ${shards.length} groups have lost their quorum`
      : 'the cluster cannot survive another failure';
  const them = missing.length === 1 ? 'it' : 'them';
  return (
    `warning: ${what}: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} unreachable, and ` +
    `${which} ${upIn(w)} of ${w.voters.length} voters up where ${quorumOf(w.voters.length)} are needed; ` +
    `bring ${them} back (restart ${them} with ${missing.length === 1 ? 'its' : 'their'} original command line)`
  );
}

/** "metadata group, shards 1-3, 5" for group ids (0 is the metadata group). */
export function groupList(ids: readonly number[]): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const parts: string[] = [];
  if (sorted[0] === 0) parts.push('the metadata group');
  const data = sorted.filter((id) => id !== 0);
  const ranges: string[] = [];
  for (let i = 0; i < data.length; ) {
    let j = i;
    while (j + 1 < data.length && data[j + 1] === data[j]! + 1) j++;
    ranges.push(i === j ? `${data[i]}` : `${data[i]}-${data[j]}`);
    i = j + 1;
  }
  if (ranges.length > 0) parts.push(`shard${data.length === 1 ? '' : 's'} ${ranges.join(', ')}`);
  return parts.join(', ');
}

/**
 * Why removing `nodeId` cannot succeed whatever happens next, or undefined: it is the cluster's
 * last member, or the only voter of some group (nobody would be left to commit that group's
 * change, and a cluster never removes its last voter). The node refuses these too, but today it
 * answers the only-voter case with a retryable UNAVAILABLE, so without this check `cluster leave`
 * would retry it until its deadline (60 s).
 */
export function leaveRefusal(view: ClusterView, nodeId: string): string | undefined {
  if (view.nodes.length === 1 && view.nodes[0]?.nodeId === nodeId) {
    return `${nodeId} is the last member of the cluster; a cluster cannot remove its last node (stop it instead)`;
  }
  const soleVoterOf = view.shards.filter((s) => s.voters.length === 1 && s.voters[0] === nodeId);
  if (soleVoterOf.length === 0) return undefined;
  return (
    `${nodeId} is the only voter of ${groupList(soleVoterOf.map((s) => s.shardId))}: removing it would leave ` +
    'no voter to commit the change or to serve them. Add a node first (`ringkv serve … --join_addr=…`), ' +
    'wait until `ringkv cluster status` shows it as a voter, then leave'
  );
}
