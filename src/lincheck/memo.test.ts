import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MEMO_ADDED, MEMO_FULL, MEMO_PRESENT, MemoTable } from './memo.ts';

/** A 32-bit FNV-1a hash of a string: a proper hash of the configuration. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h | 0;
}

test('property: the memo answers like a set of (bitset, state) through growth and rehashing', () => {
  const config = fc.tuple(fc.nat(69), fc.nat(3), fc.nat(5));
  fc.assert(
    fc.property(
      fc.array(config, { maxLength: 400 }),
      fc.array(config, { maxLength: 400 }),
      fc.boolean(),
      (before, after, weakHash) => {
        // Random additions, then every one of the 70 * 4 * 6 configurations in a scrambled order (so the
        // table must grow past its initial 1024 entries), then random ones again (all present by then).
        const sweep = Array.from({ length: 1680 }, (_, i) => {
          const c = (i * 7919) % 1680;
          return [c % 70, Math.floor(c / 70) % 4, Math.floor(c / 280)] as const;
        });
        const adds = [...before, ...sweep, ...after];
        const words = 3;
        const memo = new MemoTable(words, 1_000_000);
        const reference = new Set<string>();
        const base = new Uint32Array(words);
        for (const [op, baseBits, stateId] of adds) {
          base[0] = baseBits;
          base[2] = baseBits << 30;
          const full = base.slice();
          full[op >>> 5]! |= 1 << (op & 31);
          const key = `${full.join(',')}|${stateId}`;
          // A deliberately weak hash in some runs: collisions must then be resolved by comparing.
          const hash = weakHash ? stateId : fnv1a(key);
          const got = memo.addIfAbsent(hash, stateId, base, op >>> 5, 1 << (op & 31));
          if (got !== (reference.has(key) ? MEMO_PRESENT : MEMO_ADDED))
            assert.fail(`wrong answer ${got} for ${key}`);
          reference.add(key);
        }
        assert.equal(memo.size, reference.size);
        assert.ok(reference.size > 1024, `only ${reference.size} distinct configurations`);
      },
    ),
    { numRuns: 15 },
  );
});

test('the memo refuses past its bound on entries', () => {
  const memo = new MemoTable(1, 2);
  const bits = new Uint32Array(1);
  assert.equal(memo.addIfAbsent(1, 0, bits, 0, 1), MEMO_ADDED);
  assert.equal(memo.addIfAbsent(2, 0, bits, 0, 2), MEMO_ADDED);
  assert.equal(memo.addIfAbsent(2, 0, bits, 0, 2), MEMO_PRESENT);
  assert.equal(memo.addIfAbsent(3, 0, bits, 0, 4), MEMO_FULL);
});
