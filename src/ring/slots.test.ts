import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  HASH_TAG_HASHING,
  hashedPart,
  SLOT_COUNT,
  shardOf,
  slotOf,
  slotRange,
  WHOLE_KEY_HASHING,
} from './slots.ts';

const enc = new TextEncoder();

test('slotOf matches FNV-1a reference values', () => {
  // FNV-1a 32 of "" is 0x811c9dc5 and of "a" is 0xe40c292c (published test vectors).
  for (const hashing of [WHOLE_KEY_HASHING, HASH_TAG_HASHING]) {
    assert.equal(slotOf(new Uint8Array(), hashing), 0x811c9dc5 % SLOT_COUNT);
    assert.equal(slotOf(enc.encode('a'), hashing), 0xe40c292c % SLOT_COUNT);
    // Only the tag is hashed: '{a}' and 'x{a}y' hash as 'a' does.
    const tagged = hashing.hashTags
      ? 0xe40c292c % SLOT_COUNT
      : slotOf(enc.encode('x{a}y'), WHOLE_KEY_HASHING);
    assert.equal(slotOf(enc.encode('x{a}y'), hashing), tagged);
  }
});

test('shardOf is in range and spreads keys over every shard', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 64 }), (key, shards) => {
      const s = shardOf(key, shards, HASH_TAG_HASHING);
      return Number.isInteger(s) && s >= 1 && s <= shards;
    }),
  );
  const counts = new Array<number>(8).fill(0);
  for (let i = 0; i < 8000; i++) {
    const s = shardOf(enc.encode(`key-${i}`), 8, HASH_TAG_HASHING);
    counts[s - 1] = (counts[s - 1] ?? 0) + 1;
  }
  for (const c of counts) assert.ok(c > 700 && c < 1300, `uneven spread: ${counts.join(',')}`);
});

test('shardOf rejects a bad shard count', () => {
  assert.throws(() => shardOf(enc.encode('k'), 0, HASH_TAG_HASHING), RangeError);
  assert.throws(() => shardOf(enc.encode('k'), 1.5, HASH_TAG_HASHING), RangeError);
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

test('hash tags: the bytes between the first { and the next } when there are some, else the whole key', () => {
  const part = (k: string): string => {
    const b = enc.encode(k);
    const { start, end } = hashedPart(b);
    return new TextDecoder().decode(b.subarray(start, end));
  };
  assert.equal(part('{user1}:cart'), 'user1');
  assert.equal(part('order:{user1}'), 'user1');
  assert.equal(part('{a}{b}'), 'a');
  assert.equal(part('{{a}}'), '{a');
  assert.equal(part('a{b}c}'), 'b');
  assert.equal(part('{}x'), '{}x'); // nothing between: the whole key
  assert.equal(part('{}{x}'), '{}{x}'); // the first { decides, as in Redis Cluster
  assert.equal(part('{abc'), '{abc');
  assert.equal(part('abc}'), 'abc}');
  assert.equal(part('plain'), 'plain');
});

// Keys as Redis Cluster users write them: a tag, and text around it that may hold braces too.
const textArb = fc.string({ unit: fc.constantFrom('a', 'b', ':', '{', '}', '0', 'é'), maxLength: 8 });
const tagArb = fc.string({ unit: fc.constantFrom('a', 'b', ':', '{', '0', 'é'), minLength: 1, maxLength: 6 });

test('keys with the same {tag} land in the same shard, whatever surrounds the tag', () => {
  fc.assert(
    fc.property(
      tagArb,
      fc.string({ unit: fc.constantFrom('a', 'b', ':', '}', '0'), maxLength: 6 }),
      textArb,
      fc.string({ unit: fc.constantFrom('a', 'b', ':', '}', '0'), maxLength: 6 }),
      textArb,
      fc.integer({ min: 1, max: 1024 }),
      (tag, before1, after1, before2, after2, shards) => {
        // No { before the tag's own: then the tag is the first {…} of each key.
        const k1 = enc.encode(`${before1}{${tag}}${after1}`);
        const k2 = enc.encode(`${before2}{${tag}}${after2}`);
        const s1 = shardOf(k1, shards, HASH_TAG_HASHING);
        const s2 = shardOf(k2, shards, HASH_TAG_HASHING);
        assert.equal(
          s1,
          s2,
          `'${before1}{${tag}}${after1}' and '${before2}{${tag}}${after2}' of ${shards} shards`,
        );
        assert.equal(slotOf(k1, HASH_TAG_HASHING), slotOf(enc.encode(tag), WHOLE_KEY_HASHING));
      },
    ),
    { numRuns: 500 },
  );
});

test('a key without a tag keeps the slot the whole-key hash gave it', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const key = bytes.filter((b) => b !== 0x7b); // no {: no tag
      assert.equal(slotOf(key, HASH_TAG_HASHING), slotOf(key, WHOLE_KEY_HASHING));
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(textArb, textArb, (a, b) => {
      // A { with no } after it, or with nothing before the next }: no tag either.
      for (const k of [
        `${a.replaceAll('}', '')}{${b.replaceAll('}', '')}`,
        `${a.replaceAll('{', '')}{}${b}`,
      ]) {
        const key = enc.encode(k);
        assert.equal(slotOf(key, HASH_TAG_HASHING), slotOf(key, WHOLE_KEY_HASHING), k);
      }
    }),
    { numRuns: 500 },
  );
});

test('hash tags spread tagged keys over the shards as the whole-key hash spreads keys', () => {
  const counts = new Array<number>(8).fill(0);
  for (let i = 0; i < 8000; i++) {
    const s = shardOf(enc.encode(`{user${i}}:cart`), 8, HASH_TAG_HASHING);
    counts[s - 1] = (counts[s - 1] ?? 0) + 1;
  }
  for (const c of counts) assert.ok(c > 700 && c < 1300, `uneven spread: ${counts.join(',')}`);
});
