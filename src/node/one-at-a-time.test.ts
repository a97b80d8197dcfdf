import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OneAtATime } from './one-at-a-time.ts';

test('tasks run one at a time, in the order handed in, each with its own outcome', async () => {
  const serial = new OneAtATime();
  const log: string[] = [];
  let running = 0;
  const task = (name: string, fail: boolean) => async (): Promise<string> => {
    running++;
    assert.equal(running, 1, `${name} started while another task ran`);
    log.push(`start ${name}`);
    await new Promise((r) => setTimeout(r, 5));
    log.push(`end ${name}`);
    running--;
    if (fail) throw new Error(`${name} failed`);
    return name;
  };
  const a = serial.run(task('a', false));
  const b = serial.run(task('b', true));
  const c = serial.run(task('c', false));
  assert.equal(await a, 'a');
  await assert.rejects(b, /b failed/);
  assert.equal(await c, 'c');
  assert.deepEqual(log, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
});
