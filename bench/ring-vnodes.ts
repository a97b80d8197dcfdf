// How many tokens per member the ring needs: for each V, the spread of the ring's own choice (each
// shard's first R distinct members clockwise, no load bound) and how many replicas placement.ts's
// fair-share quotas then place off that choice. Averages over random member names.
// Run: node bench/ring-vnodes.ts
import { HashRing, shardPoint } from '../src/ring/hash-ring.ts';
import { place } from '../src/ring/placement.ts';

const R = 3;
const TRIALS = 20;
const cases = [
  { n: 5, s: 32 },
  { n: 10, s: 256 },
  { n: 32, s: 1024 },
];

function names(n: number, trial: number): string[] {
  return Array.from({ length: n }, (_, i) => `node-${trial}-${i}-${(i * 7919 + trial * 104729) % 1000}`);
}

console.log('| N | S | V | ring alone: max/mean replicas | off the ring after quotas | place() ms |');
console.log('|---:|---:|---:|---:|---:|---:|');
for (const { n, s } of cases) {
  for (const v of [1, 8, 32, 64, 128, 256]) {
    let ratio = 0;
    let off = 0;
    let ms = 0;
    for (let t = 0; t < TRIALS; t++) {
      const ids = names(n, t);
      const ring = new HashRing(ids, v);
      const counts = new Map<string, number>();
      const firstR = new Map<number, string[]>();
      for (let shard = 1; shard <= s; shard++) {
        const reps = ring.preference(shardPoint(shard)).slice(0, R);
        firstR.set(shard, reps);
        for (const id of reps) counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      ratio += Math.max(...counts.values()) / ((s * R) / n);
      const start = performance.now();
      const p = place(
        new Map(),
        ids.map((nodeId) => ({ nodeId })),
        { shardCount: s, replicationFactor: R, vnodes: v },
      );
      ms += performance.now() - start;
      for (const [shard, reps] of p)
        off += reps.filter((id) => !(firstR.get(shard) ?? []).includes(id)).length;
    }
    const offPct = ((100 * off) / (TRIALS * s * R)).toFixed(1);
    console.log(
      `| ${n} | ${s} | ${v} | ${(ratio / TRIALS).toFixed(2)} | ${offPct} % | ${(ms / TRIALS).toFixed(1)} |`,
    );
  }
}
