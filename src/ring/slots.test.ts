import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SLOT_COUNT, shardOf, slotOf, slotRange } from './slots.ts';

const enc = new TextEncoder();

test('slotOf matches FNV-1a reference values', () => {
  // FNV-1a 32 of "" is 0x811c9dc5 and of "a" is 0xe40c292c (published test vectors).
  assert.equal(slotOf(new Uint8Array()), 0x811c9dc5 % SLOT_COUNT);
  assert.equal(slotOf(enc.encode('a')), 0xe40c292c % SLOT_COUNT);
});

test('shardOf is in range and spreads keys over every shard', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 64 }), (key, shards) => {
      const s = shardOf(key, shards);
      return Number.isInteger(s) && s >= 1 && s <= shards;
    }),
  );
  const counts = new Array<number>(8).fill(0);
  for (let i = 0; i < 8000; i++) {
    const s = shardOf(enc.encode(`key-${i}`), 8);
    counts[s - 1] = (counts[s - 1] ?? 0) + 1;
  }
  for (const c of counts) assert.ok(c > 700 && c < 1300, `uneven spread: ${counts.join(',')}`);
});

test('shardOf rejects a bad shard count', () => {
  assert.throws(() => shardOf(enc.encode('k'), 0), RangeError);
  assert.throws(() => shardOf(enc.encode('k'), 1.5), RangeError);
});

test('slotRange gives each shard the slots shardOf sends it, contiguous and covering every slot', () => {
  for (const shards of [1, 3, 7, 64, 1000, SLOT_COUNT]) {
    let next = 0;
    for (let s = 1; s <= shards; s++) {
      const { first, last } = slotRange(s, shards);
      assert.equal(first, next, `shard ${s} of ${shards} starts at ${first}, not ${next}`);
      assert.ok(last >= first, `shard ${s} of ${shards} owns no slot`);
      for (const x of [first, last]) {
        assert.equal(Math.floor((x * shards) / SLOT_COUNT) + 1, s, `slot ${x} of ${shards} shards`);
      }
      next = last + 1;
    }
    assert.equal(next, SLOT_COUNT);
  }
  assert.throws(() => slotRange(0, 8), RangeError);
  assert.throws(() => slotRange(9, 8), RangeError);
});
