import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Inflights } from './inflights.ts';

test('inflights: full by count, freed in order up to an index', () => {
  const f = new Inflights(3, 0);
  f.add(1, 10);
  f.add(4, 10);
  assert.equal(f.full(), false);
  f.add(7, 10);
  assert.equal(f.full(), true);
  assert.throws(() => f.add(9, 1), /inflights full/);
  f.freeLE(4);
  assert.equal(f.count, 1);
  assert.equal(f.bytes, 10);
  f.add(9, 5); // wraps around the ring
  f.add(12, 5);
  assert.equal(f.count, 3);
  f.freeLE(100);
  assert.equal(f.count, 0);
  assert.equal(f.bytes, 0);
});

test('inflights: full by bytes before the count bound', () => {
  const f = new Inflights(100, 25);
  f.add(1, 10);
  f.add(2, 10);
  assert.equal(f.full(), false);
  f.add(3, 10);
  assert.equal(f.full(), true, 'bytes 30 >= 25');
  f.freeLE(1);
  assert.equal(f.full(), false);
});

test('inflights: indexes must increase', () => {
  const f = new Inflights(4, 0);
  f.add(5, 1);
  assert.throws(() => f.add(5, 1), /not after/);
});

test('inflights: count and bytes always equal a reference model', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.array(
        fc.oneof(
          fc.record({ add: fc.integer({ min: 0, max: 50 }) }),
          fc.record({ free: fc.integer({ min: 0, max: 60 }) }),
        ),
      ),
      (size, ops) => {
        const f = new Inflights(size, 0);
        const model: { index: number; bytes: number }[] = [];
        let next = 1;
        for (const op of ops) {
          if ('add' in op) {
            if (model.length === size) continue;
            f.add(next, op.add);
            model.push({ index: next, bytes: op.add });
            next += 3;
          } else {
            f.freeLE(op.free);
            while (model.length > 0 && model[0]!.index <= op.free) model.shift();
          }
          assert.equal(f.count, model.length);
          assert.equal(
            f.bytes,
            model.reduce((s, m) => s + m.bytes, 0),
          );
          assert.equal(f.full(), model.length === size);
        }
      },
    ),
  );
});
