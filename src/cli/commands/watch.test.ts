// `watch --from`: one position for every shard, or SHARD:INDEX pairs; anything else is a message
// (the command's usage error). The command itself runs against real processes in
// test/process/watch-cli.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFrom } from './watch.ts';

test('--from takes one position for every shard, or SHARD:INDEX pairs', () => {
  assert.equal(parseFrom('120'), 120n);
  assert.equal(parseFrom('0'), 0n);
  assert.deepEqual(
    parseFrom('3:120,5:88'),
    new Map([
      [3, 120n],
      [5, 88n],
    ]),
  );
  assert.deepEqual(parseFrom(' 1:9 ,'), new Map([[1, 9n]]));
});

test('--from refuses what is neither, naming the bad part', () => {
  for (const [text, part] of [
    ['', 'give a position'],
    ['-1', '"-1" is not SHARD:INDEX'],
    ['3:x', '"3:x" is not SHARD:INDEX'],
    ['0:5', '"0:5" is not SHARD:INDEX'],
    ['3:1,3:2', 'shard 3 is given twice'],
    ['1.5', '"1.5" is not SHARD:INDEX'],
  ] as const) {
    const r = parseFrom(text);
    assert.equal(typeof r, 'string', `${text} accepted`);
    assert.ok(String(r).includes(part), `${text}: ${String(r)}`);
  }
});
