// The manual clock keeps the Clock contract (clock.ts) on virtual time: callbacks never run inside
// the call that set them, each runs at its due time, ties in the order set, cancelled ones never.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sleep } from './clock.ts';
import { ManualClock } from './manual-clock.ts';

it('runs each callback at its due time, in due order, ties in the order they were set', () => {
  const clock = new ManualClock(100);
  const ran: string[] = [];
  const log = (what: string) => () => ran.push(`${what}@${clock.nowMs()}`);
  clock.after(30, log('b'));
  clock.after(10, log('a'));
  clock.after(30, log('c'));
  clock.defer(log('deferred'));
  assert.deepEqual(ran, [], 'nothing runs inside the call that set it');
  assert.equal(clock.nextDueMs(), 100);
  assert.equal(clock.advance(20), 2);
  assert.deepEqual(ran, ['deferred@100', 'a@110']);
  assert.equal(clock.nowMs(), 120, 'time ends where the step ends');
  clock.advance(10);
  assert.deepEqual(ran.slice(2), ['b@130', 'c@130']);
  assert.equal(clock.pendingTimers, 0);
  assert.equal(clock.nextDueMs(), undefined);
});

it('repeats an interval until cancelled; a cancelled timer never runs', () => {
  const clock = new ManualClock();
  const ticks: number[] = [];
  const every = clock.every(100, () => ticks.push(clock.nowMs()));
  const never = clock.after(150, () => ticks.push(-1));
  clock.cancel(never);
  clock.advance(350);
  assert.deepEqual(ticks, [100, 200, 300]);
  clock.cancel(every);
  clock.cancel(every);
  clock.advance(1000);
  assert.deepEqual(ticks, [100, 200, 300], 'nothing after the cancel');
  assert.equal(clock.pendingTimers, 0);
});

it('runs within the same step what a callback sets due inside it; sleep resolves on the clock', async () => {
  const clock = new ManualClock();
  const ran: number[] = [];
  clock.after(10, () => clock.after(5, () => ran.push(clock.nowMs())));
  clock.advance(15);
  assert.deepEqual(ran, [15]);
  let woke = false;
  const slept = sleep(clock, 1_000).then(() => {
    woke = true;
  });
  clock.advance(999);
  await Promise.resolve();
  assert.equal(woke, false);
  clock.advance(1);
  await slept;
  assert.equal(woke, true);
});

it('refuses a negative delay, an empty interval, and time going backwards', () => {
  const clock = new ManualClock();
  assert.throws(() => clock.after(-1, () => {}), /delay -1 ms/);
  assert.throws(() => clock.every(0, () => {}), /interval 0 ms/);
  assert.throws(() => clock.advance(-5), /advance a clock by -5 ms/);
});
