// The node's view of the cluster for ClusterService.Status: members, and per group (group 0 is the
// metadata group, 1..S the data shards) its leader, membership, term, commit and applied index, and
// — when this node leads the group — each replica's match index and lag behind the leader's log.
import type { ReplicaStatus, ShardStatus, StatusResponse } from '../gen/ringkv/v1/kv.ts';
import type { Group } from './group.ts';
import type { KvNode } from './node.ts';

export function nodeStatus(node: KvNode): StatusResponse {
  const shards: ShardStatus[] = [];
  for (const g of [...node.driver.groups.values()].sort((a, b) => a.id - b.id)) shards.push(groupStatus(g));
  return {
    nodeId: node.opts.nodeId,
    clusterId: node.metadata.clusterId !== '' ? node.metadata.clusterId : node.identity.clusterId,
    members: node.metadata.members().map((m) => ({ ...m })),
    shards,
    // Known once the metadata log (or its snapshot) is applied here.
    leaderPlacement: node.metadata.clusterId !== '' ? node.metadata.leaderPlacement : '',
  };
}

function groupStatus(g: Group): ShardStatus {
  const st = g.raw.status();
  const cs = g.confState;
  const replicas: ReplicaStatus[] = [];
  for (const id of [...cs.voters, ...cs.learners]) {
    const pr = st.progress?.get(id);
    const role = cs.learners.includes(id) ? 'learner' : 'voter';
    const match = pr?.match ?? (id === g.nodeId ? st.lastIndex : 0);
    const lag = pr !== undefined ? Math.max(0, st.lastIndex - pr.match) : 0;
    replicas.push({ nodeId: id, role, match: BigInt(match), lag: BigInt(lag) });
  }
  return {
    shardId: g.id,
    leader: g.leader,
    voters: [...cs.voters],
    learners: [...cs.learners],
    term: BigInt(st.hardState.term),
    commit: BigInt(st.hardState.commit),
    applied: BigInt(g.applied),
    replicas,
  };
}
