import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FAULT_KINDS, type FaultKind, pickIndex, planSchedule, WARMUP_MS_MAX } from './schedule.ts';

const ALL: readonly FaultKind[] = FAULT_KINDS;

describe('chaos schedule', () => {
  test('the same seed gives the same schedule; another seed another one', () => {
    const a = planSchedule({ seed: 42, durationMs: 60_000, kinds: ALL });
    const b = planSchedule({ seed: 42, durationMs: 60_000, kinds: ALL });
    const c = planSchedule({ seed: 43, durationMs: 60_000, kinds: ALL });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.ok(a.length >= 4, `a 60 s run has room for several faults, got ${a.length}`);
  });

  test('deterministic for any seed, duration and kinds (property)', () => {
    fc.assert(
      fc.property(
        fc.nat(2 ** 32 - 1),
        fc.integer({ min: 5000, max: 600_000 }),
        fc.subarray([...ALL], { minLength: 1 }),
        (seed, durationMs, kinds) => {
          const a = planSchedule({ seed, durationMs, kinds });
          assert.deepEqual(planSchedule({ seed, durationMs, kinds }), a);
          // Only the kinds asked for, numbered in order, every pick in [0, 1).
          a.forEach((f, i) => {
            assert.ok(kinds.includes(f.kind), `${f.kind} was not asked for`);
            assert.equal(f.seq, i + 1);
            const picks = [
              'target' in f ? f.target.pick : 0,
              f.kind === 'partition' ? f.pick2 : 0,
              f.kind === 'membership' ? f.leavePick : 0,
            ];
            for (const p of picks) assert.ok(p >= 0 && p < 1, `pick ${p}`);
          });
          // Planned gaps and holds fit in the run.
          const plannedMs = a.reduce((s, f) => s + f.gapBeforeMs + f.holdMs, 0);
          assert.ok(plannedMs <= durationMs, `planned ${plannedMs} ms in a ${durationMs} ms run`);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('the first faults are every asked kind once, in a seeded order', () => {
    for (let seed = 0; seed < 20; seed++) {
      const s = planSchedule({ seed, durationMs: 120_000, kinds: ALL });
      assert.deepEqual(new Set(s.slice(0, ALL.length).map((f) => f.kind)), new Set(ALL), `seed ${seed}`);
    }
  });

  test('no fault in the warm-up; holds within the planned bounds', () => {
    const s = planSchedule({ seed: 7, durationMs: 300_000, kinds: ALL });
    assert.equal(s[0]?.gapBeforeMs, WARMUP_MS_MAX);
    for (const f of s) {
      if (f.kind === 'partition') assert.ok(f.holdMs >= 3000 && f.holdMs <= 8000, `partition ${f.holdMs}`);
      if (f.kind === 'kill') assert.ok(f.holdMs >= 1000 && f.holdMs <= 4000, `kill ${f.holdMs}`);
      if (f.kind === 'pause') assert.ok(f.holdMs >= 2000 && f.holdMs <= 6000, `pause ${f.holdMs}`);
    }
  });

  test('after the first round, membership comes about half as often as each other kind', () => {
    const counts = new Map<string, number>();
    for (let seed = 0; seed < 50; seed++)
      for (const f of planSchedule({ seed, durationMs: 3_600_000, kinds: ALL }).slice(ALL.length))
        counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
    const ratio = (counts.get('membership') ?? 0) / (counts.get('kill') ?? 1);
    assert.ok(ratio > 0.4 && ratio < 0.6, `membership/kill ${ratio} (${JSON.stringify([...counts])})`);
  });

  test('a run too short for any fault has none', () => {
    assert.deepEqual(planSchedule({ seed: 1, durationMs: 5000, kinds: ['membership'] }), []);
  });

  test('pickIndex covers [0, n) and refuses what is out of range', () => {
    assert.equal(pickIndex(0, 3), 0);
    assert.equal(pickIndex(0.34, 3), 1);
    assert.equal(pickIndex(0.999999, 3), 2);
    assert.throws(() => pickIndex(1, 3), RangeError);
    assert.throws(() => pickIndex(0.5, 0), RangeError);
  });
});
