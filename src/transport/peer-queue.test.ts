import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PeerQueue } from './peer-queue.ts';

interface Item {
  readonly id: number;
  readonly sizeBytes: number;
  readonly precious: boolean;
}

type Op =
  | { kind: 'push'; sizeBytes: number; precious: boolean }
  | { kind: 'take'; messagesMax: number; bytesMax: number };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record(
    { kind: fc.constant('push' as const), sizeBytes: fc.nat(120), precious: fc.boolean() },
    { noNullPrototype: true },
  ),
  fc.record(
    {
      kind: fc.constant('take' as const),
      messagesMax: fc.integer({ min: 1, max: 6 }),
      bytesMax: fc.nat(200),
    },
    { noNullPrototype: true },
  ),
);

describe('PeerQueue', () => {
  it('stays within its bounds, keeps order, and accounts for every item', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 300 }),
        fc.array(arbOp),
        (messagesMax, bytesMax, ops) => {
          const q = new PeerQueue<Item>({ messagesMax, bytesMax });
          let pushed = 0;
          let dropped = 0;
          let taken: Item[] = [];
          for (const op of ops) {
            if (op.kind === 'push') {
              dropped += q.push({ id: pushed++, sizeBytes: op.sizeBytes, precious: op.precious });
            } else {
              const batch = q.take(op.messagesMax, op.bytesMax);
              assert.ok(batch.length <= op.messagesMax);
              if (batch.length > 1) assert.ok(batch.reduce((s, it) => s + it.sizeBytes, 0) <= op.bytesMax);
              taken = taken.concat(batch);
            }
            assert.ok(q.length <= messagesMax, `length ${q.length} > ${messagesMax}`);
            assert.ok(q.sizeBytes <= bytesMax, `bytes ${q.sizeBytes} > ${bytesMax}`);
          }
          const rest = q.take(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
          const out = taken.concat(rest);
          assert.equal(pushed, out.length + dropped, 'every item is delivered or counted as dropped');
          for (let i = 1; i < out.length; i++)
            assert.ok((out[i - 1] as Item).id < (out[i] as Item).id, 'FIFO');
          assert.equal(q.length, 0);
          assert.equal(q.sizeBytes, 0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('evicts the oldest ordinary items before precious ones', () => {
    const q = new PeerQueue<Item>({ messagesMax: 3, bytesMax: 1000 });
    q.push({ id: 0, sizeBytes: 1, precious: true });
    q.push({ id: 1, sizeBytes: 1, precious: false });
    q.push({ id: 2, sizeBytes: 1, precious: false });
    assert.equal(q.push({ id: 3, sizeBytes: 1, precious: false }), 1);
    assert.deepEqual(
      q.take(10, 1000).map((it) => it.id),
      [0, 2, 3],
    );
  });

  it('drops the oldest when only precious items are left', () => {
    const q = new PeerQueue<Item>({ messagesMax: 2, bytesMax: 1000 });
    for (let id = 0; id < 5; id++) q.push({ id, sizeBytes: 1, precious: true });
    assert.deepEqual(
      q.take(10, 1000).map((it) => it.id),
      [3, 4],
    );
  });

  it('refuses an item larger than the byte bound without evicting anything', () => {
    const q = new PeerQueue<Item>({ messagesMax: 10, bytesMax: 100 });
    q.push({ id: 0, sizeBytes: 60, precious: false });
    assert.equal(q.push({ id: 1, sizeBytes: 101, precious: false }), 1);
    assert.equal(q.length, 1);
    assert.equal(q.push({ id: 2, sizeBytes: 50, precious: false }), 1, 'evicts item 0 to make room');
    assert.deepEqual(
      q.take(10, 1000).map((it) => it.id),
      [2],
    );
  });

  it('hands out a single item larger than the batch byte limit', () => {
    const q = new PeerQueue<Item>({ messagesMax: 10, bytesMax: 1000 });
    q.push({ id: 0, sizeBytes: 500, precious: false });
    q.push({ id: 1, sizeBytes: 1, precious: false });
    assert.deepEqual(
      q.take(10, 100).map((it) => it.id),
      [0],
    );
  });

  it('stays fast and bounded under sustained overflow', () => {
    const q = new PeerQueue<Item>({ messagesMax: 4096, bytesMax: 1 << 30 });
    let dropped = 0;
    for (let id = 0; id < 100_000; id++) dropped += q.push({ id, sizeBytes: 10, precious: id % 100 === 0 });
    assert.equal(q.length, 4096);
    assert.equal(dropped, 100_000 - 4096);
  });
});
