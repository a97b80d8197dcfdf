// Which voter should lead each shard under the 'spread' leader placement: a deterministic function of
// the shard table, so every node computes the same answer and a leadership one node hands over is
// never handed back by another (two nodes that each count only the shards they host would disagree
// on who leads too many, once a node hosts fewer than all shards).
//
// The answer balances the leaderships over the members that are up: each shard's preferred leader is
// one of its voters, and no shard could change to another of its eligible voters and narrow the gap
// between two members' counts (each preferred leader leads at most one more shard than any other
// eligible voter of the same shard). When every up member holds every shard, the counts differ by at
// most one.
//
// How: shards in id order take the eligible voter with the fewest shards so far (ties: the voters in
// id order, rotated by the shard id, so equal tables spread the same way everywhere), then
// improving paths: while some member leads two more than a member reachable from it (a shard led by
// the first has the next as a voter, and so on), the shards along the path each change hands by one
// step. Each path lowers the sum of squared counts, so the loop ends; it is bounded besides.
import { ringAssert } from './errors.ts';

/** What the computation needs of a shard: its id and the voters that may lead it. */
export interface LeaderCandidates {
  readonly shardId: number;
  /** Sorted, distinct. */
  readonly voters: readonly string[];
}

/**
 * The preferred leader of every shard that has an eligible voter (members in `eligible`), by shard
 * id. Shards without one are absent. Deterministic in its inputs (shards are taken in id order).
 */
export function preferredLeaders(
  shards: readonly LeaderCandidates[],
  eligible: ReadonlySet<string>,
): Map<number, string> {
  const sorted = [...shards].sort((a, b) => a.shardId - b.shardId);
  const count = new Map<string, number>();
  for (const m of [...eligible].sort()) count.set(m, 0);
  const leader = new Map<number, string>();
  const candidates = new Map<number, string[]>();
  for (const s of sorted) {
    const vs = s.voters.filter((v) => eligible.has(v));
    if (vs.length === 0) continue;
    candidates.set(s.shardId, vs);
    let best: string | undefined;
    for (let i = 0; i < vs.length; i++) {
      const v = vs[(s.shardId + i) % vs.length] as string;
      if (best === undefined || (count.get(v) as number) < (count.get(best) as number)) best = v;
    }
    const b = best as string;
    leader.set(s.shardId, b);
    count.set(b, (count.get(b) as number) + 1);
  }
  // Each improving path lowers Σ count² by at least 2; it starts at most S².
  const bound = sorted.length * sorted.length + 1;
  for (let round = 0; round < bound; round++) {
    const path = improvingPath(leader, candidates, count);
    if (path === undefined) return leader;
    for (const [shardId, to] of path) {
      const from = leader.get(shardId) as string;
      count.set(from, (count.get(from) as number) - 1);
      count.set(to, (count.get(to) as number) + 1);
      leader.set(shardId, to);
    }
  }
  ringAssert(false, () => `preferredLeaders: no fixed point after ${bound} improving paths`);
  return leader;
}

/**
 * A chain of hand-overs (shard, new leader) from the member that leads the most to one that leads at
 * least two fewer and is reachable through shards' voters; undefined when there is none. Breadth
 * first from each member, most loaded first (ties by id), so the path is the same everywhere.
 */
function improvingPath(
  leader: ReadonlyMap<number, string>,
  candidates: ReadonlyMap<number, readonly string[]>,
  count: ReadonlyMap<string, number>,
): [number, string][] | undefined {
  const ledBy = new Map<string, number[]>();
  for (const [shardId, l] of leader) {
    const list = ledBy.get(l);
    if (list === undefined) ledBy.set(l, [shardId]);
    else list.push(shardId);
  }
  const order = [...count.keys()].sort(
    (a, b) => (count.get(b) as number) - (count.get(a) as number) || (a < b ? -1 : 1),
  );
  for (const start of order) {
    const startCount = count.get(start) as number;
    // Member → the (shard, previous member) hop that reached it first.
    const via = new Map<string, { shardId: number; from: string }>();
    const seen = new Set([start]);
    const queue = [start];
    for (let qi = 0; qi < queue.length; qi++) {
      const m = queue[qi] as string;
      for (const shardId of ledBy.get(m) ?? []) {
        for (const v of candidates.get(shardId) ?? []) {
          if (seen.has(v)) continue;
          seen.add(v);
          via.set(v, { shardId, from: m });
          if ((count.get(v) as number) <= startCount - 2) return unwind(via, v);
          queue.push(v);
        }
      }
    }
  }
  return undefined;
}

function unwind(
  via: ReadonlyMap<string, { shardId: number; from: string }>,
  end: string,
): [number, string][] {
  const path: [number, string][] = [];
  for (let m = end, hop = via.get(m); hop !== undefined; m = hop.from, hop = via.get(m)) {
    path.push([hop.shardId, m]);
  }
  return path;
}
