import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inParallel } from './in-parallel.ts';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('inParallel runs every item, at most `parallel` at a time', async () => {
  let running = 0;
  let most = 0;
  const done: number[] = [];
  await inParallel([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    running++;
    most = Math.max(most, running);
    await tick();
    running--;
    done.push(n);
  });
  assert.deepEqual([...done].sort(), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(most, 3);
});

test('inParallel throws the first failure once the calls under way have ended, and starts no more', async () => {
  const started: number[] = [];
  let running = 0;
  await assert.rejects(
    inParallel([1, 2, 3, 4, 5, 6], 2, async (n) => {
      started.push(n);
      running++;
      await tick();
      running--;
      if (n === 2) throw new Error('two failed');
    }),
    /two failed/,
  );
  assert.equal(running, 0, 'no call left running');
  assert.ok(!started.includes(5) && !started.includes(6), JSON.stringify(started));
});
