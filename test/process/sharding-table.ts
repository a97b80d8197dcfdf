// Arithmetic over settled shard tables for the sharding scenario: a replica is a (shard, node) pair;
// between two tables the replicas moved are the pairs the second has and the first had not; the
// spread is the most replicas any node holds over the mean.
import type { StatusResponse } from '../../src/client/index.ts';

/** One data shard of a table, as the scenario keeps it. */
export interface TableRow {
  readonly shardId: number;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  readonly epoch: number;
}

export type Table = readonly TableRow[];

export function tableOf(s: StatusResponse): Table {
  return s.placement.map((p) => ({
    shardId: p.shardId,
    voters: [...p.voters].sort(),
    learners: [...p.learners].sort(),
    epoch: Number(p.epoch),
  }));
}

function pairs(t: Table): Set<string> {
  const out = new Set<string>();
  for (const r of t) for (const v of r.voters) out.add(`${r.shardId}@${v}`);
  return out;
}

/** Replicas (shard@node) in `after` and not in `before`, and the other way round. */
export function replicaChanges(before: Table, after: Table): { added: string[]; removed: string[] } {
  const b = pairs(before);
  const a = pairs(after);
  return { added: [...a].filter((p) => !b.has(p)).sort(), removed: [...b].filter((p) => !a.has(p)).sort() };
}

/** Voter replicas per node, every node of `nodes` listed (0 for one holding none). */
export function replicasPerNode(t: Table, nodes: readonly string[]): Map<string, number> {
  const out = new Map(nodes.map((n) => [n, 0]));
  for (const r of t)
    for (const v of r.voters) {
      if (!out.has(v)) throw new Error(`shard ${r.shardId} has voter ${v}, not one of ${nodes.join(',')}`);
      out.set(v, out.get(v)! + 1);
    }
  return out;
}

/** The most replicas on one node over the mean (1 is perfectly even). */
export function maxOverMean(perNode: ReadonlyMap<string, number>): number {
  const counts = [...perNode.values()];
  if (counts.length === 0) throw new Error('no nodes');
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  if (mean === 0) throw new Error('no replicas');
  return Math.max(...counts) / mean;
}

/** The replicas `node` holds in `t`. */
export function heldBy(t: Table, node: string): number {
  return t.filter((r) => r.voters.includes(node)).length;
}
