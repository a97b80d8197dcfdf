// The bound on waiting requests and the deadline of each one.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ResourceExhaustedError, UnavailableError } from './errors.ts';
import { Pending, PendingBudget } from './pending.ts';

it('refuses requests beyond the bound with RESOURCE_EXHAUSTED and frees a slot when one settles', async () => {
  const budget = new PendingBudget(2);
  const timeout = () => new UnavailableError('deadline passed');
  const a = new Pending<number>(budget, Date.now() + 10_000, timeout);
  const b = new Pending<number>(budget, Date.now() + 10_000, timeout);
  assert.throws(
    () => new Pending<number>(budget, Date.now() + 10_000, timeout),
    (e) => e instanceof ResourceExhaustedError && e.code === 'RESOURCE_EXHAUSTED',
  );
  a.resolve(1);
  a.resolve(2);
  assert.equal(await a.promise, 1, 'settles once');
  assert.equal(budget.waiting, 1);
  const c = new Pending<number>(budget, Date.now() + 20, timeout);
  await assert.rejects(c.promise, (e) => e instanceof UnavailableError);
  b.fail(new Error('x'));
  await assert.rejects(b.promise);
  assert.equal(budget.waiting, 0);
});
