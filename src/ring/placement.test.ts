// Properties of shard placement (placement.ts) over random clusters: every shard on R distinct
// members (in R zones when there are R zones), every member within one replica of its fair share,
// and membership changes that move close to the fewest replicas they can.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { HashRing, hash64 } from './hash-ring.ts';
import { type Placement, place, placementDiff, type RingMember, replicaCounts } from './placement.ts';

const R = 3;
const EMPTY: Placement = new Map();

/** N distinct member ids from a seed (arbitrary names, as operators choose them). */
const membersArb = (nMin: number, nMax: number) =>
  fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/), { minLength: nMin, maxLength: nMax });
const shardsArb = fc.integer({ min: 8, max: 1024 });

function plain(ids: readonly string[]): RingMember[] {
  return ids.map((nodeId) => ({ nodeId }));
}

/** Replicas added by going from `a` to `b` (each one a move: a learner to create and catch up). */
function moves(a: Placement, b: Placement): number {
  return placementDiff(a, b).reduce((n, d) => n + d.add.length, 0);
}

function checkShape(p: Placement, members: readonly RingMember[], shards: number): void {
  const r = Math.min(R, members.length);
  assert.equal(p.size, shards);
  for (const [s, reps] of p) {
    assert.equal(reps.length, r, `shard ${s}: ${reps}`);
    assert.equal(new Set(reps).size, r, `shard ${s} has a member twice: ${reps}`);
  }
}

/**
 * Every member holds ⌊S·R/N⌋ or ⌈S·R/N⌉ replicas. (So max/mean ≤ 1.15 whenever the mean is at
 * least 1/0.15 ≈ 6.7, or whole; below that no placement of whole replicas can promise 1.15.)
 */
function checkBalance(p: Placement, members: readonly RingMember[], shards: number): void {
  const counts = [...replicaCounts(p, members).values()];
  const mean = (shards * Math.min(R, members.length)) / members.length;
  const max = Math.max(...counts);
  const min = Math.min(...counts);
  assert.ok(max <= Math.ceil(mean) && min >= Math.floor(mean), `loads ${min}..${max}, mean ${mean}`);
  if (mean >= 1 / 0.15) assert.ok(max / mean <= 1.15, `max/mean ${max / mean}`);
}

test('hash64 spreads nearby strings (the finaliser) and is stable', () => {
  assert.equal(hash64('n1#0'), hash64('n1#0'));
  const a = hash64('n1#1');
  const b = hash64('n1#2');
  const differing = (a ^ b).toString(2).replaceAll('0', '').length;
  assert.ok(differing > 16, `n1#1 and n1#2 differ in ${differing} of 64 bits`);
});

test('a preference list names every member once and keeps the others in order when one joins', () => {
  fc.assert(
    fc.property(membersArb(2, 20), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (ids, point) => {
      const [joiner, ...rest] = ids as [string, ...string[]];
      const before = new HashRing(rest).preference(point);
      const after = new HashRing(ids).preference(point);
      assert.deepEqual([...after].sort(), [...ids].sort());
      assert.deepEqual(
        after.filter((n) => n !== joiner),
        before,
      );
    }),
    { numRuns: 50 },
  );
});

test('every shard on R distinct members, every member within one replica of its fair share', () => {
  fc.assert(
    fc.property(membersArb(3, 32), shardsArb, (ids, shards) => {
      const members = plain(ids);
      const p = place(EMPTY, members, { shardCount: shards, replicationFactor: R });
      checkShape(p, members, shards);
      checkBalance(p, members, shards);
    }),
    { numRuns: 40 },
  );
});

test('the placement depends on the members, not on the order they are listed in', () => {
  fc.assert(
    fc.property(membersArb(3, 12), fc.integer({ min: 8, max: 128 }), (ids, shards) => {
      const a = place(EMPTY, plain(ids), { shardCount: shards, replicationFactor: R });
      const b = place(EMPTY, plain([...ids].reverse()), { shardCount: shards, replicationFactor: R });
      assert.deepEqual([...a], [...b]);
    }),
    { numRuns: 30 },
  );
});

test('a member that joins takes its fair share and nothing else moves (≤ 1.1 × S·R/(N+1), rounded up)', () => {
  fc.assert(
    fc.property(membersArb(4, 33), shardsArb, (ids, shards) => {
      const [joiner, ...rest] = ids as [string, ...string[]];
      const settings = { shardCount: shards, replicationFactor: R };
      const before = place(EMPTY, plain(rest), settings);
      const after = place(before, plain(ids), settings);
      checkShape(after, plain(ids), shards);
      checkBalance(after, plain(ids), shards);
      const optimum = (shards * R) / ids.length;
      const moved = moves(before, after);
      assert.ok(moved <= Math.ceil(1.1 * optimum), `moved ${moved}, optimum ${optimum}`);
      for (const d of placementDiff(before, after)) assert.deepEqual(d.add, [joiner], `shard ${d.shard}`);
    }),
    { numRuns: 40 },
  );
});

test('a join placed again partway through (as the planner does after each move) moves nothing more', () => {
  fc.assert(
    fc.property(
      membersArb(4, 20),
      fc.integer({ min: 8, max: 256 }),
      fc.infiniteStream(fc.boolean()),
      (ids, shards, coins) => {
        const [joiner, ...rest] = ids as [string, ...string[]];
        const settings = { shardCount: shards, replicationFactor: R };
        const before = place(EMPTY, plain(rest), settings);
        const after = place(before, plain(ids), settings);
        // Some of the moves done: those shards as `after` has them, the others as before.
        const it = coins[Symbol.iterator]();
        const mid = new Map(before);
        for (const d of placementDiff(before, after))
          if (it.next().value) mid.set(d.shard, after.get(d.shard) ?? []);
        const again = place(mid, plain(ids), settings);
        for (const d of placementDiff(mid, again)) assert.deepEqual(d.add, [joiner], `shard ${d.shard}`);
        assert.equal(moves(before, mid) + moves(mid, again), moves(before, after));
      },
    ),
    { numRuns: 40 },
  );
});

test('a member that leaves has its replicas re-created (≤ 1.1 × what it held, rounded up)', () => {
  fc.assert(
    fc.property(membersArb(4, 32), shardsArb, (ids, shards) => {
      const [leaver, ...rest] = ids as [string, ...string[]];
      const settings = { shardCount: shards, replicationFactor: R };
      const before = place(EMPTY, plain(ids), settings);
      const held = replicaCounts(before, plain(ids)).get(leaver) ?? 0;
      const after = place(before, plain(rest), settings);
      checkShape(after, plain(rest), shards);
      checkBalance(after, plain(rest), shards);
      const moved = moves(before, after);
      assert.ok(moved <= Math.ceil(1.1 * held), `moved ${moved}, the leaver held ${held}`);
    }),
    { numRuns: 40 },
  );
});

test('with at least R zones, every shard has its replicas in R different zones', () => {
  fc.assert(
    fc.property(
      membersArb(3, 24),
      fc.integer({ min: 3, max: 6 }),
      fc.integer({ min: 8, max: 256 }),
      (ids, zones, shards) => {
        fc.pre(ids.length >= zones);
        const members = ids.map((nodeId, i) => ({ nodeId, zone: `z${i % zones}` }));
        const zoneOf = new Map(members.map((m) => [m.nodeId, m.zone]));
        const p = place(EMPTY, members, { shardCount: shards, replicationFactor: R });
        checkShape(p, members, shards);
        for (const [s, reps] of p) {
          assert.equal(new Set(reps.map((n) => zoneOf.get(n))).size, R, `shard ${s}: ${reps}`);
        }
        // Equal zones leave room for the fair share; unequal ones cannot (a lone zone's member must
        // hold a replica of every shard).
        if (ids.length % zones === 0) checkBalance(p, members, shards);
      },
    ),
    { numRuns: 40 },
  );
});

test('fewer members than R: every member holds every shard; a replication factor change re-places', () => {
  const two = plain(['a', 'b']);
  const p = place(EMPTY, two, { shardCount: 8, replicationFactor: R });
  for (const reps of p.values()) assert.deepEqual([...reps].sort(), ['a', 'b']);
  const five = plain(['a', 'b', 'c', 'd', 'e']);
  const r3 = place(p, five, { shardCount: 8, replicationFactor: 3 });
  const r1 = place(r3, five, { shardCount: 8, replicationFactor: 1 });
  for (const [s, reps] of r1) {
    assert.equal(reps.length, 1);
    assert.ok((r3.get(s) ?? []).includes(reps[0] as string), 'R down: a replica it had stays');
  }
  assert.equal(moves(r3, r1), 0);
});

test('a placement naming departed or unknown members, or too many replicas, is repaired', () => {
  const members = plain(['a', 'b', 'c', 'd']);
  const messy: Placement = new Map([
    [1, ['a', 'a', 'zz', 'b', 'c', 'd']],
    [2, []],
    [3, ['gone']],
  ]);
  const p = place(messy, members, { shardCount: 4, replicationFactor: R });
  checkShape(p, members, 4);
  for (const n of ['a', 'b', 'c', 'd']) assert.ok((replicaCounts(p, members).get(n) ?? 0) === 3);
});

test('bad settings are refused with the allowed range', () => {
  const m = plain(['a', 'b', 'c']);
  assert.throws(() => place(EMPTY, m, { shardCount: 0, replicationFactor: 3 }), /shard count/);
  assert.throws(() => place(EMPTY, m, { shardCount: 8, replicationFactor: 0 }), /replication factor/);
  assert.throws(() => place(EMPTY, plain(['a', 'a']), { shardCount: 8, replicationFactor: 3 }), /twice/);
  assert.throws(() => place(EMPTY, [], { shardCount: 8, replicationFactor: 3 }), /1 to/);
});
