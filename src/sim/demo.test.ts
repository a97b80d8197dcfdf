// The demo tells its story on real nodes and passes every check (the simulator's checks watch it).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runDemo } from './demo.ts';

test('the demo tells its story and passes every check', async () => {
  const r = await runDemo(1);
  assert.equal(r.ok, true, r.lines.join('\n'));
  const text = r.lines.join('\n');
  for (const part of [
    'n2 and n3 joined',
    'leads the data shard',
    'crashed',
    'caught up to index',
    'was elected in term',
    'linearizable reads',
    'user:2 = absent',
    'identical state',
    'is linearizable',
  ]) {
    assert.ok(text.includes(part), `demo output mentions '${part}':\n${text}`);
  }
});

test('another seed is another run, and it passes too', async () => {
  const a = await runDemo(1);
  const b = await runDemo(2);
  assert.equal(b.ok, true, b.lines.join('\n'));
  assert.notDeepEqual(b.lines, a.lines);
});
