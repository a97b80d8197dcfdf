// The planner (rebalance.ts): which moves it begins and why, what it holds back and under which
// limit, and the metadata group's voters. The planner run to the end against a model of the shards
// is in rebalance-sim.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { describePlan, metadataVoters, plan } from './rebalance.ts';
import {
  apply,
  type ClusterSettings,
  EMPTY_TABLE,
  METADATA_VOTERS_MAX,
  type Member,
  type MemberAddress,
  type MemberState,
  type ShardTable,
  type TableOp,
} from './shard-table.ts';

type OpBody = TableOp extends infer T ? (T extends unknown ? Omit<T, 'n'> : never) : never;

function run(t: ShardTable, ...ops: OpBody[]): ShardTable {
  for (const op of ops) t = apply(t, { ...op, n: t.lastOp + 1 } as TableOp);
  return t;
}

function addr(nodeId: string, zone = ''): MemberAddress {
  return { nodeId, zone, clientAddr: `${nodeId}:7000`, raftAddr: `${nodeId}:7001` };
}

const settings: ClusterSettings = {
  shardCount: 12,
  replicationFactor: 3,
  deadNodeTimeoutMs: 60_000,
  movesInFlightMax: 2,
};

function cluster(ids: readonly string[], s: ClusterSettings = settings): ShardTable {
  return run(EMPTY_TABLE, { kind: 'init', settings: s, members: ids.map((n) => addr(n)) });
}

function join(t: ShardTable, id: string): ShardTable {
  return run(t, { kind: 'addMember', member: addr(id) }, { kind: 'setMemberState', nodeId: id, state: 'up' });
}

test('a join: moves to the new member, K at a time, the rest held back by the bound, and why', () => {
  const t = join(cluster(['a', 'b', 'c']), 'd');
  const p = plan(t, { nowMs: 0 });
  assert.equal(p.start.length, 1, 'one snapshot at a time into d');
  assert.equal(p.deferred.length, 8, '12·3/4 = 9 replicas for d');
  for (const m of [...p.start, ...p.deferred]) {
    assert.equal(m.target, 'd');
    assert.equal(m.reason, 'balance');
    assert.match(m.detail, /holds 12 replicas, d 0; the fair share is 9.0/);
  }
  assert.deepEqual(new Set(p.deferred.map((d) => d.deferred)), new Set(['targetBusy']));
  // As data, for `cluster rebalance --dry-run`.
  const described = describePlan(p);
  assert.deepEqual(JSON.parse(JSON.stringify(described)), described);
  assert.equal(described.target.length, 12);
});

test('K bounds the moves begun, one snapshot into a member and one out of a leader at a time', () => {
  let t = join(join(join(cluster(['a', 'b', 'c'], { ...settings, movesInFlightMax: 3 }), 'd'), 'e'), 'f');
  // Every shard led by a: a sends one snapshot at a time; a move whose source is a has a hand its
  // leadership to b first, and b sends that one. So two moves begin, not three.
  const ledByA = new Map(t.shards.map((s) => [s.shardId, 'a']));
  const two = plan(t, { nowMs: 0, leaders: ledByA });
  assert.deepEqual(two.start.map((m) => m.source === 'a').sort(), [false, true]);
  assert.ok(two.deferred.some((d) => d.deferred === 'senderBusy'));
  // Leaders spread over a, b, c: three targets, three senders, K = 3.
  const spread = new Map(t.shards.map((s) => [s.shardId, ['a', 'b', 'c'][s.shardId % 3] as string]));
  const three = plan(t, { nowMs: 0, leaders: spread });
  assert.equal(three.start.length, 3);
  assert.equal(new Set(three.start.map((m) => m.target)).size, 3);
  for (const m of three.start)
    t = run(t, { kind: 'beginMove', shard: m.shard, source: m.source, target: m.target });
  const full = plan(t, { nowMs: 0, leaders: spread });
  assert.deepEqual([full.start, full.inFlight.length], [[], 3]);
  assert.ok(full.deferred.every((d) => d.deferred === 'movesInFlightMax'));
});

test('a member down: its replicas are re-created first; with fewer members up than R they stay', () => {
  let t = join(cluster(['a', 'b', 'c']), 'd');
  t = run(t, { kind: 'setMemberState', nodeId: 'b', state: 'down' });
  const p = plan(t, { nowMs: 0 });
  const first = p.start[0];
  assert.ok(first !== undefined);
  assert.deepEqual(
    [first.source, first.target, first.reason, first.detail],
    ['b', 'd', 'sourceDown', 'b is down'],
  );
  // Three members, one down: nowhere to put b's replicas, and dropping them would not help.
  const small = run(cluster(['a', 'b', 'c']), { kind: 'setMemberState', nodeId: 'c', state: 'down' });
  const q = plan(small, { nowMs: 0 });
  assert.deepEqual([q.start, q.deferred], [[], []]);
  assert.equal(q.underReplicated.length, 12);
});

test('R lowered: voters go without a replacement; raised: replicas are added', () => {
  const t = cluster(['a', 'b', 'c', 'd']);
  const down = plan(run(t, { kind: 'setSettings', change: { replicationFactor: 2 } }), { nowMs: 0 });
  assert.ok(down.start.length > 0);
  for (const m of [...down.start, ...down.deferred])
    assert.deepEqual([m.target, m.reason], [null, 'overReplicated']);
  const up = plan(run(t, { kind: 'setSettings', change: { replicationFactor: 4 } }), { nowMs: 0 });
  for (const m of [...up.start, ...up.deferred])
    assert.deepEqual([m.source, m.reason], [null, 'underReplicated']);
});

test('a shard whose moves rolled back waits out its backoff; a move to a member no longer up is abandoned', () => {
  let t = join(cluster(['a', 'b', 'c']), 'd');
  const m = plan(t, { nowMs: 0 }).start[0];
  assert.ok(m !== undefined);
  t = run(t, { kind: 'beginMove', shard: m.shard, source: m.source, target: m.target });
  const id = t.lastOp;
  t = run(
    t,
    { kind: 'abortMove', shard: m.shard, moveId: id, reason: 'stuck', atMs: 1000 },
    { kind: 'finishMove', shard: m.shard, moveId: id },
  );
  const p = plan(t, { nowMs: 5000 });
  const held = [...p.start, ...p.deferred].find((x) => x.shard === m.shard);
  assert.deepEqual(
    p.deferred.filter((x) => x.shard === m.shard).map((x) => [x.deferred, x.untilMs]),
    [['backoff', 11_000]],
  );
  assert.equal(held?.shard, m.shard);
  assert.ok(!plan(t, { nowMs: 11_000 }).deferred.some((x) => x.deferred === 'backoff'));
  t = run(
    t,
    { kind: 'beginMove', shard: m.shard, source: m.source, target: m.target },
    { kind: 'setMemberState', nodeId: 'd', state: 'draining' },
  );
  assert.deepEqual(plan(t, { nowMs: 20_000 }).abandon, [
    { shard: m.shard, moveId: t.lastOp - 1, reason: 'the target d is draining' },
  ]);
});

function members(spec: readonly [string, string, MemberState][]): Member[] {
  return spec.map(([nodeId, zone, state]) => ({ ...addr(nodeId, zone), state }));
}

test('metadata voters: every member up while there are at most 5, then 5 spread over the zones', () => {
  const three = members([
    ['a', '', 'up'],
    ['b', '', 'up'],
    ['c', '', 'joining'],
  ]);
  assert.deepEqual(metadataVoters(three, []), ['a', 'b']);
  const zoned = members([
    ['a1', 'A', 'up'],
    ['a2', 'A', 'up'],
    ['a3', 'A', 'up'],
    ['a4', 'A', 'up'],
    ['b1', 'B', 'up'],
    ['b2', 'B', 'up'],
    ['c1', 'C', 'up'],
  ]);
  assert.deepEqual(metadataVoters(zoned, []), ['a1', 'a2', 'b1', 'b2', 'c1']);
  // The current voters stay where the spread allows.
  assert.deepEqual(metadataVoters(zoned, ['a3', 'a4', 'b1', 'b2', 'c1']), ['a3', 'a4', 'b1', 'b2', 'c1']);
  // A voter down with nobody to replace it stays a voter.
  const fourOneDown = members([
    ['a', '', 'up'],
    ['b', '', 'up'],
    ['c', '', 'up'],
    ['d', '', 'down'],
  ]);
  assert.deepEqual(metadataVoters(fourOneDown, ['a', 'b', 'c', 'd']), ['a', 'b', 'c', 'd']);
});

test('metadata voters: at most 5, members up only (unless kept), zones as even as the members allow, stable', () => {
  const memberArb = fc.uniqueArray(
    fc.record({
      nodeId: fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/),
      zone: fc.constantFrom('', 'z1', 'z2', 'z3'),
      state: fc.constantFrom<MemberState>('up', 'up', 'up', 'down', 'draining', 'joining', 'removed'),
    }),
    { selector: (m) => m.nodeId, maxLength: 14 },
  );
  fc.assert(
    fc.property(memberArb, fc.func(fc.boolean()), (spec, wasVoter) => {
      const ms = spec.map((m) => ({ ...addr(m.nodeId, m.zone), state: m.state }));
      const current = ms.filter((m) => m.state !== 'removed' && wasVoter(m.nodeId)).map((m) => m.nodeId);
      const chosen = metadataVoters(ms, current);
      const up = ms.filter((m) => m.state === 'up');
      assert.ok(chosen.length <= METADATA_VOTERS_MAX);
      assert.equal(new Set(chosen).size, chosen.length);
      assert.ok(chosen.length >= Math.min(METADATA_VOTERS_MAX, up.length), `${chosen} of ${up.length} up`);
      for (const id of chosen) {
        const m = ms.find((x) => x.nodeId === id);
        assert.ok(
          m?.state === 'up' || (current.includes(id) && m?.state !== 'removed' && m?.state !== 'joining'),
          `${id} is ${m?.state}`,
        );
      }
      // Zone spread: a zone holds more than another only when the other has nobody else up.
      const zoneOf = (id: string): string => {
        const m = ms.find((x) => x.nodeId === id);
        return m?.zone ? m.zone : `node:${id}`;
      };
      const upChosen = chosen.filter((id) => up.some((m) => m.nodeId === id));
      const count = new Map<string, number>();
      for (const id of upChosen) count.set(zoneOf(id), (count.get(zoneOf(id)) ?? 0) + 1);
      for (const m of up) {
        const z = zoneOf(m.nodeId);
        if (chosen.includes(m.nodeId)) continue;
        for (const [other, k] of count)
          assert.ok(k <= (count.get(z) ?? 0) + 1, `${other} has ${k}, ${z} could take ${m.nodeId}`);
      }
      assert.deepEqual(metadataVoters(ms, chosen), chosen, 'the choice is stable');
    }),
    { numRuns: 300 },
  );
});

test('a shard with fewer voters than wanted first grows, never swaps (members that joined at once)', () => {
  // One founder, four members up at once: every shard has the founder alone, and for some of them
  // the ring places three others. A swap there ({a} to {x}, or {a,b} to {b,x}) needs a quorum of both
  // halves: one replica lost mid-move stalls the shard, where an added voter needs two of three.
  let t = cluster(['a']);
  for (const id of ['b', 'c', 'd', 'e']) t = join(t, id);
  const p = plan(t, { nowMs: 0 });
  const moves = [...p.start, ...p.deferred];
  const offPlacement = t.shards.filter((s) => !(p.target.get(s.shardId) ?? []).includes('a'));
  assert.ok(offPlacement.length > 0, 'some shard is placed away from a');
  assert.equal(moves.length, t.shards.length, 'one move per shard');
  for (const m of moves) {
    assert.equal(m.source, null, `shard ${m.shard}: ${m.detail}`);
    assert.equal(m.reason, 'underReplicated');
  }
});
