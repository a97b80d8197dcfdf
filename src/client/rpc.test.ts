import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRoute } from './rpc.ts';

test('a route trailer as the server writes it is read back', () => {
  assert.deepEqual(parseRoute('{"shard":2,"epoch":7,"voters":["h:1","h:2"]}'), {
    shard: 2,
    epoch: 7n,
    voters: ['h:1', 'h:2'],
  });
});

test('a malformed route trailer is ignored (the leader hint alone is followed)', () => {
  for (const bad of [
    undefined,
    'not json',
    '[]',
    '{"shard":0,"epoch":1,"voters":[]}',
    '{"shard":1,"epoch":-1,"voters":[]}',
    '{"shard":1,"epoch":1,"voters":"h:1"}',
    '{"shard":1,"epoch":1,"voters":[""]}',
    JSON.stringify({ shard: 1, epoch: 1, voters: Array.from({ length: 17 }, (_, i) => `h:${i}`) }),
  ]) {
    assert.equal(parseRoute(bad), undefined, String(bad));
  }
});
