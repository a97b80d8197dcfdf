// The shards a transaction's keys span, and how the refusal names them (shared by client and node).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keysByShard, spansShardsMessage } from './key-shards.ts';

const enc = new TextEncoder();
const shardOfFirstByte = (k: Uint8Array): number => (k[0] === undefined ? 0 : k[0] % 3) + 1;

test('keys grouped by shard keep the first key of each; an unplaced key gives undefined', () => {
  const keys = ['a', 'd', 'b', 'g'].map((k) => enc.encode(k)); // a, d, g: shard 2 ('a' = 97); b: shard 3
  const byShard = keysByShard(keys, shardOfFirstByte);
  assert.deepEqual(
    [...(byShard ?? [])].map(([s, k]) => [s, new TextDecoder().decode(k)]),
    [
      [2, 'a'],
      [3, 'b'],
    ],
  );
  assert.equal(
    keysByShard(keys, (k) => (k[0] === 100 ? undefined : 1)),
    undefined,
  );
});

test('the refusal names every shard in order with a key of it, quoted', () => {
  const byShard = new Map([
    [7, enc.encode('{u2}:b')],
    [3, enc.encode('x "y"')],
  ]);
  assert.equal(
    spansShardsMessage(byShard),
    'the transaction\'s keys live in 2 shards: shard 3 (key "x \\"y\\""), shard 7 (key "{u2}:b"); a transaction runs in one shard: give keys that belong together the same {tag} (hash tags)',
  );
});
