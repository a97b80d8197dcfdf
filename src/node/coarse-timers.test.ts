// The deadline timers on a manual clock: each fires in its slot (never early, at most a grain
// late), one clock timer serves a slot, and a cancelled one never fires.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { CoarseTimers } from './coarse-timers.ts';
import { ManualClock } from './manual-clock.ts';

const START_MS = 1_000_003;

it('runs each callback at the first multiple of the grain at or after its due time, never before', () => {
  const clock = new ManualClock(START_MS);
  const t = new CoarseTimers(clock, 10);
  const fired: string[] = [];
  t.after(0, () => fired.push('now'));
  t.after(7, () => fired.push('7'));
  t.after(8, () => fired.push('8'));
  t.after(25, () => fired.push('25'));
  assert.deepEqual(fired, [], 'nothing runs inside after()');
  assert.equal(clock.pendingTimers, 3, 'one clock timer per slot: 1000010, 1000020, 1000030');
  clock.advance(6); // 1000009
  assert.deepEqual(fired, []);
  clock.advance(1); // 1000010: the slot of due times 1000003 and 1000010
  assert.deepEqual(fired, ['now', '7']);
  clock.advance(9); // 1000019
  assert.deepEqual(fired, ['now', '7']);
  clock.advance(1); // 1000020
  assert.deepEqual(fired, ['now', '7', '8']);
  clock.advance(10);
  assert.deepEqual(fired, ['now', '7', '8', '25']);
  assert.equal(t.slotCount, 0);
});

it('never runs a cancelled callback, even one cancelled by an earlier callback of its slot', () => {
  const clock = new ManualClock(START_MS);
  const t = new CoarseTimers(clock, 10);
  const fired: string[] = [];
  const a = t.after(100, () => fired.push('a'));
  let c: ReturnType<typeof t.after> | undefined;
  t.after(101, () => {
    fired.push('b');
    if (c !== undefined) t.cancel(c);
  });
  c = t.after(102, () => fired.push('c'));
  t.after(103, () => fired.push('d'));
  t.cancel(a);
  t.cancel(a);
  clock.advance(200);
  assert.deepEqual(fired, ['b', 'd'], 'in the order set; a and c cancelled');
});

it('a callback that sets a timer already due runs it after itself, not inside', () => {
  const clock = new ManualClock(START_MS);
  const t = new CoarseTimers(clock, 10);
  const fired: string[] = [];
  t.after(5, () => {
    fired.push('first');
    t.after(0, () => fired.push('second'));
    assert.deepEqual(fired, ['first'], 'not from inside after()');
  });
  clock.advance(20);
  assert.deepEqual(fired, ['first', 'second']);
  assert.equal(t.slotCount, 0);
});

it('keeps no timers behind when every entry of a slot was cancelled and its time passed', () => {
  const clock = new ManualClock(START_MS);
  const t = new CoarseTimers(clock, 10);
  const timers = Array.from({ length: 1000 }, (_, i) =>
    t.after(5000 + (i % 50), () => assert.fail('cancelled')),
  );
  assert.ok(t.slotCount <= 6, `1000 timers within 50 ms share at most 6 slots, got ${t.slotCount}`);
  assert.ok(clock.pendingTimers <= 6, `and as many clock timers, got ${clock.pendingTimers}`);
  for (const x of timers) t.cancel(x);
  clock.advance(6000);
  assert.equal(t.slotCount, 0);
  assert.equal(clock.pendingTimers, 0);
});

it('refuses a negative delay and a grain that is not a positive integer', () => {
  const clock = new ManualClock(START_MS);
  assert.throws(() => new CoarseTimers(clock, 0), /grain must be a positive integer/);
  assert.throws(() => new CoarseTimers(clock, 1.5), /grain must be a positive integer/);
  assert.throws(() => new CoarseTimers(clock).after(-1, () => {}), /delay must be >= 0, got -1/);
});
