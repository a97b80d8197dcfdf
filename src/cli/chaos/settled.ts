// When is a chaos cluster "formed"? Each member answers Status; from those answers alone (as an
// operator would see them), the cluster is settled when:
//   - every member sees exactly the members, each of them up (not joining, draining or down);
//   - every member has applied the same shard table, and in it every data shard has min(R, N)
//     voters, all members, no learners, no joint half and no move in flight, and the rebalancer
//     wants no move (the table is the ring's placement: a joiner got its share);
//   - every member hosts exactly the shards the table places on it (a node restarted or joined
//     holds its replicas again; a replica moved away has been dropped);
//   - every group has a leader among the members, no learners, and as voters the table's voters
//     (the metadata group: every member).
// The first reason it is not, or undefined.
import type { StatusResponse } from '../../client/index.ts';
import { METADATA_VOTERS_MAX } from '../../node/metadata-voters.ts';

const METADATA_GROUP = 0;

export function unsettledReason(
  members: readonly string[],
  statuses: ReadonlyMap<string, StatusResponse>,
): string | undefined {
  const names = new Set(members);
  let table: string | undefined;
  for (const name of members) {
    const s = statuses.get(name);
    if (s === undefined) return `${name} does not answer Status`;
    if (s.shards.length === 0 || s.placement.length === 0 || s.replicationFactor === 0)
      return `${name} does not know the cluster yet`;
    if (s.members.length !== names.size || !s.members.every((m) => names.has(m.nodeId)))
      return `${name} sees members ${s.members.map((m) => m.nodeId).join(',')}`;
    // A member still joining has no place on the ring yet: the planner wants nothing for it.
    const notUp = s.members.find((m) => m.state !== undefined && m.state !== 'up');
    if (notUp !== undefined) return `${name} sees ${notUp.nodeId} ${notUp.state}`;
    if (s.wantedMoves.length > 0) return `${name}: the rebalancer wants ${s.wantedMoves.length} more move(s)`;
    const want = Math.min(s.replicationFactor, names.size);
    for (const p of s.placement) {
      if (p.move !== undefined) return `${name}: shard ${p.shardId} has a move in flight (${p.move.step})`;
      if (p.learners.length > 0 || p.votersOutgoing.length > 0)
        return `${name}: shard ${p.shardId} has learners or a joint configuration in the table`;
      if (p.voters.length !== want || !p.voters.every((v) => names.has(v)))
        return `${name}: shard ${p.shardId} has voters ${p.voters.join(',')} in the table, not ${want} members`;
    }
    const shown = JSON.stringify(s.placement.map((p) => [p.shardId, [...p.voters].sort()]));
    if (table !== undefined && shown !== table) return `${name} has applied another shard table`;
    table = shown;
    const hosted = new Map(s.shards.map((g) => [g.shardId, g]));
    for (const p of s.placement) {
      const placed = p.voters.includes(name);
      if (placed !== hosted.has(p.shardId))
        return `${name} ${placed ? 'does not host' : 'still hosts'} shard ${p.shardId}`;
    }
    for (const g of s.shards) {
      if (g.leader === '' || !names.has(g.leader)) return `${name}: group ${g.shardId} has no leader`;
      if (g.shardId === METADATA_GROUP) {
        // Every member holds it: min(members, METADATA_VOTERS_MAX) voters, the others learners.
        const want = Math.min(members.length, METADATA_VOTERS_MAX);
        if (!sameSet([...g.voters, ...g.learners], members) || g.voters.length !== want)
          return `${name}: the metadata group has voters ${g.voters.join(',')} and learners ${g.learners.join(',') || 'none'}, not ${want} voters of ${members.join(',')}`;
        continue;
      }
      if (g.learners.length > 0) return `${name}: group ${g.shardId} has learners`;
      const wanted = s.placement.find((p) => p.shardId === g.shardId)?.voters ?? [];
      if (!sameSet(g.voters, wanted))
        return `${name}: group ${g.shardId} has voters ${g.voters.join(',')}, the table ${wanted.join(',')}`;
    }
  }
  return undefined;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
