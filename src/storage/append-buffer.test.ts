// The append buffer and its block pool: records land in place across growing blocks, and the blocks
// of a written round are reused by the next one (no new ArrayBuffer per round), boundedly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppendBuffer, BlockPool } from './append-buffer.ts';

function append(b: AppendBuffer, bytes: Uint8Array): void {
  const { buf, offset } = b.reserve(bytes.length);
  buf.set(bytes, offset);
  b.commit(offset + bytes.length);
}

test('records are encoded in place and come back in order as views', () => {
  const b = new AppendBuffer(64);
  const records = [new Uint8Array(10).fill(1), new Uint8Array(40).fill(2), new Uint8Array(100).fill(3)];
  for (const r of records) append(b, r);
  assert.equal(b.sizeBytes, 150);
  assert.deepEqual(Buffer.concat(b.views()), Buffer.concat(records));
});

test('a released round gives its blocks to the next round (the same memory, no new allocation)', () => {
  const pool = new BlockPool(1024);
  const first = new AppendBuffer(1024, pool);
  append(first, new Uint8Array(100).fill(7));
  const block = first.views()[0]?.buffer;
  first.release();
  assert.equal(pool.size, 1);
  const second = new AppendBuffer(1024, pool);
  append(second, new Uint8Array(5).fill(9));
  assert.equal(second.views()[0]?.buffer, block, 'the pooled block is reused');
  assert.deepEqual([...Buffer.concat(second.views())], [9, 9, 9, 9, 9], 'only the new bytes are visible');
  assert.equal(pool.size, 0);
});

test('the pool is bounded and keeps no oversize blocks', () => {
  const pool = new BlockPool(1024);
  for (let i = 0; i < 20; i++) pool.give(Buffer.alloc(512));
  assert.equal(pool.size, 8);
  const big = new BlockPool(1024);
  big.give(Buffer.alloc(4096));
  assert.equal(big.size, 0);
  assert.ok(pool.take(2048).length >= 2048, 'too small pooled blocks are skipped');
  assert.equal(pool.size, 8);
});
