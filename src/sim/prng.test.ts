import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { EventQueue } from './event-queue.ts';
import { Fnv64 } from './hash.ts';
import { Prng } from './prng.ts';

test('the same seed gives the same stream; derived streams are independent of each other', () => {
  const a = new Prng(42);
  const b = new Prng(42);
  const xs = Array.from({ length: 20 }, () => a.nextU32());
  assert.deepEqual(
    xs,
    Array.from({ length: 20 }, () => b.nextU32()),
  );
  assert.notDeepEqual(
    xs,
    Array.from({ length: 20 }, () => new Prng(43).nextU32()),
  );
  const root = new Prng(7);
  const net1 = root.derive('network').nextU32();
  root.derive('disk').nextU32(); // drawing from one stream must not shift another
  assert.equal(root.derive('network').nextU32(), net1);
  assert.notEqual(root.derive('disk').nextU32(), net1);
});

test('nextInt stays in range and covers it', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 50 }), (seed, n) => {
      const r = new Prng(seed);
      const seen = new Set<number>();
      for (let i = 0; i < 40 * n; i++) {
        const x = r.nextInt(n);
        assert.ok(Number.isInteger(x) && x >= 0 && x < n, `nextInt(${n}) gave ${x}`);
        seen.add(x);
      }
      assert.ok(seen.size >= Math.min(n, 3), `only ${seen.size} distinct values of ${n}`);
    }),
    { numRuns: 50 },
  );
});

test('chance, intBetween, pick and shuffled behave', () => {
  const r = new Prng(1);
  let hits = 0;
  for (let i = 0; i < 10_000; i++) if (r.chance(0.3)) hits++;
  assert.ok(hits > 2_700 && hits < 3_300, `chance(0.3) hit ${hits} of 10000`);
  assert.equal(r.chance(0), false);
  assert.equal(r.chance(1), true);
  for (let i = 0; i < 100; i++) {
    const x = r.intBetween(3, 5);
    assert.ok(x >= 3 && x <= 5);
  }
  assert.throws(() => r.pick([]));
  const items = [1, 2, 3, 4, 5, 6];
  assert.deepEqual(
    r.shuffled(items).sort((a, b) => a - b),
    items,
  );
});

test('FNV-1a 64 matches the reference vectors', () => {
  // Reference: FNV-1a 64 of "" is cbf29ce484222325 and of "a" is af63dc4c8601ec8c.
  assert.equal(new Fnv64().hex(), 'cbf29ce484222325');
  const h = new Fnv64() as unknown as { mix(u: number): void; hex(): string };
  h.mix(0x61);
  assert.equal(h.hex(), 'af63dc4c8601ec8c');
  assert.notEqual(
    new Fnv64().addString('ab').addString('c').hex(),
    new Fnv64().addString('a').addString('bc').hex(),
  );
});

test('the event queue orders by time, then by insertion', () => {
  const q = new EventQueue<string>();
  q.at(10, 'b');
  q.at(5, 'a');
  q.at(10, 'c');
  q.at(7, 'x');
  const out: string[] = [];
  for (let e = q.pop(); e !== undefined; e = q.pop()) out.push(`${q.now()}:${e}`);
  assert.deepEqual(out, ['5:a', '7:x', '10:b', '10:c']);
  assert.throws(() => q.at(3, 'past'), /before now/);
});
