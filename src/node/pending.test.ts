// The bound on waiting requests and the deadline of each one, on a manual clock: no real waiting.
// The clock starts far from the wall clock, so a deadline measured against the real one (or a real
// timer) shows as a request failed too early, or not at all.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ResourceExhaustedError, UnavailableError } from './errors.ts';
import { ManualClock } from './manual-clock.ts';
import { Pending, PendingBudget } from './pending.ts';

const timeout = () => new UnavailableError('deadline passed');
/** Far from any wall-clock time (Unix epoch ms). */
const START_MS = 1_000_000;

/** Lets the promise callbacks of what settled run (the clock's callbacks run synchronously). */
const settle = () => new Promise<void>((resolve) => queueMicrotask(resolve));

it('refuses requests beyond the bound with RESOURCE_EXHAUSTED and frees a slot when one settles', async () => {
  const clock = new ManualClock(START_MS);
  const budget = new PendingBudget(2);
  const a = new Pending<number>(budget, clock, START_MS + 10_000, timeout);
  const b = new Pending<number>(budget, clock, START_MS + 10_000, timeout);
  assert.throws(
    () => new Pending<number>(budget, clock, START_MS + 10_000, timeout),
    (e) => e instanceof ResourceExhaustedError && e.code === 'RESOURCE_EXHAUSTED',
  );
  a.resolve(1);
  a.resolve(2);
  assert.equal(await a.promise, 1, 'settles once');
  assert.equal(budget.waiting, 1);
  b.fail(new Error('x'));
  await assert.rejects(b.promise);
  assert.equal(budget.waiting, 0);
  assert.equal(clock.pendingTimers, 0, 'a settled request leaves no timer behind');
});

it('fails with UNAVAILABLE exactly when its deadline passes on the clock it was given', async () => {
  const clock = new ManualClock(START_MS);
  const budget = new PendingBudget(10);
  const p = new Pending<number>(budget, clock, START_MS + 5_000, timeout);
  const outcome: string[] = [];
  p.promise.then(
    () => outcome.push('resolved'),
    (e: unknown) => outcome.push(e instanceof UnavailableError ? 'unavailable' : `other: ${e}`),
  );
  assert.equal(clock.nextDueMs(), START_MS + 5_000, 'its timer is due at the deadline');
  clock.advance(4_999);
  await settle();
  assert.deepEqual(outcome, [], 'still waiting 1 ms before the deadline');
  assert.equal(budget.waiting, 1);
  clock.advance(1);
  await settle();
  assert.deepEqual(outcome, ['unavailable'], 'failed at the deadline');
  assert.equal(budget.waiting, 0, 'its slot is free');
  p.resolve(7);
  await settle();
  assert.deepEqual(outcome, ['unavailable'], 'a late answer changes nothing');
  // A deadline already behind the clock fails on the next step, without a wait.
  const late = new Pending<number>(budget, clock, START_MS, timeout);
  assert.equal(late.done, false, 'not from inside the constructor');
  clock.advance(0);
  assert.equal(late.done, true);
  await assert.rejects(late.promise, UnavailableError);
});

it('runs onFailure once when it fails (by fail or by its deadline), never when it resolves', async () => {
  const clock = new ManualClock(START_MS);
  const budget = new PendingBudget(10);
  let failures = 0;
  const onFailure = () => failures++;
  const resolved = new Pending<number>(budget, clock, START_MS + 1_000, timeout, onFailure);
  resolved.resolve(1);
  resolved.fail(new Error('too late'));
  const failed = new Pending<number>(budget, clock, START_MS + 1_000, timeout, onFailure);
  failed.fail(new Error('refused'));
  failed.fail(new Error('again'));
  const timedOut = new Pending<number>(budget, clock, START_MS + 1_000, timeout, onFailure);
  clock.advance(1_000);
  await Promise.allSettled([resolved.promise, failed.promise, timedOut.promise]);
  assert.equal(failures, 2);
});
