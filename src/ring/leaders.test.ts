import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type LeaderCandidates, preferredLeaders } from './leaders.ts';

const memberIds = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => `n${String(i + 1).padStart(2, '0')}`);

/** Members, shards with voters among them (sorted, distinct), and the members that are up. */
const layout = fc
  .record({ n: fc.integer({ min: 1, max: 12 }), s: fc.integer({ min: 0, max: 64 }) })
  .chain(({ n, s }) => {
    const ids = memberIds(n);
    const voters = fc.subarray(ids, { minLength: 1, maxLength: Math.min(5, n) });
    return fc.record({
      ids: fc.constant(ids),
      shards: fc.array(voters, { minLength: s, maxLength: s }),
      up: fc.subarray(ids),
      seed: fc.integer(),
    });
  });

function counts(leaders: ReadonlyMap<number, string>, up: readonly string[]): Map<string, number> {
  const c = new Map(up.map((m) => [m, 0]));
  for (const l of leaders.values()) c.set(l, (c.get(l) ?? 0) + 1);
  return c;
}

function shardsOf(voters: readonly (readonly string[])[]): LeaderCandidates[] {
  return voters.map((v, i) => ({ shardId: i + 1, voters: [...v].sort() }));
}

test('each preferred leader is an up voter of its shard, and no shard could narrow a gap by changing hands', () => {
  fc.assert(
    fc.property(layout, ({ shards, up }) => {
      const eligible = new Set(up);
      const input = shardsOf(shards);
      const leaders = preferredLeaders(input, eligible);
      const c = counts(leaders, up);
      for (const s of input) {
        const candidates = s.voters.filter((v) => eligible.has(v));
        const l = leaders.get(s.shardId);
        if (candidates.length === 0) {
          assert.equal(l, undefined, `shard ${s.shardId} has no up voter`);
          continue;
        }
        assert.ok(l !== undefined && candidates.includes(l), `shard ${s.shardId}: ${l} of ${candidates}`);
        for (const v of candidates) {
          assert.ok(
            (c.get(l) as number) <= (c.get(v) as number) + 1,
            `shard ${s.shardId}: ${l} leads ${c.get(l)}, its voter ${v} only ${c.get(v)}`,
          );
        }
      }
    }),
    { numRuns: 500 },
  );
});

test('the same table gives the same leaders, whatever order the shards come in', () => {
  fc.assert(
    fc.property(layout, ({ shards, up, seed }) => {
      const input = shardsOf(shards);
      const shuffled = [...input].sort((a, b) => ((a.shardId * 7919) ^ seed) - ((b.shardId * 7919) ^ seed));
      assert.deepEqual(
        [...preferredLeaders(shuffled, new Set([...up].reverse())).entries()].sort((a, b) => a[0] - b[0]),
        [...preferredLeaders(input, new Set(up)).entries()].sort((a, b) => a[0] - b[0]),
      );
    }),
    { numRuns: 300 },
  );
});

test('every up member on every shard: the counts differ by at most one', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 256 }), (n, s) => {
      const ids = memberIds(n);
      const leaders = preferredLeaders(shardsOf(Array.from({ length: s }, () => ids)), new Set(ids));
      const c = [...counts(leaders, ids).values()];
      assert.ok(Math.max(...c) - Math.min(...c) <= 1, JSON.stringify(c));
    }),
  );
});

test('4 members, 8 shards on 3 of them each: two leaderships per member', () => {
  const ids = ['n1', 'n2', 'n3', 'n4'];
  const threes = ids.map((skip) => ids.filter((m) => m !== skip));
  const voters = [...threes, ...threes];
  const leaders = preferredLeaders(shardsOf(voters), new Set(ids));
  assert.deepEqual([...counts(leaders, ids).values()], [2, 2, 2, 2]);
  // A member that is not up leads nothing; the others share its part.
  const three = preferredLeaders(shardsOf(voters), new Set(['n1', 'n2', 'n3']));
  assert.deepEqual([...counts(three, ['n1', 'n2', 'n3']).values()].sort(), [2, 3, 3]);
  assert.ok(![...three.values()].includes('n4'));
});
