import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProgress } from './progress.ts';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { isTTY, writes, write: (t: string) => writes.push(t) };
}

test('off a terminal: one line per change, clamped to the total, nothing after stop', () => {
  const s = fakeStream(false);
  const p = createProgress('draining n4', 3, s);
  p.update(0, 'replicas moved');
  p.update(0, 'replicas moved'); // unchanged: not written again
  p.update(2, 'replicas moved');
  p.update(7, 'replicas moved');
  p.stop();
  p.update(1, 'late');
  assert.deepEqual(s.writes, [
    'draining n4: 0/3 replicas moved\n',
    'draining n4: 2/3 replicas moved\n',
    'draining n4: 3/3 replicas moved\n',
  ]);
});

test('on a terminal: a bar with the label and the count, and stop twice is harmless', () => {
  const s = fakeStream(true);
  const p = createProgress('saving', 4, s);
  p.update(3, 'shard 3');
  p.stop();
  p.stop();
  const text = s.writes.join('');
  assert.match(text, /saving \[.*\] 3\/4 shard 3/);
});

test('a total below 1 is refused', () => {
  assert.throws(() => createProgress('x', 0, fakeStream(false)), /total 0 is not an integer >= 1/);
});
