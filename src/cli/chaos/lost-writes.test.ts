import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KvInput, KvOperation, KvOutput } from '../../lincheck/index.ts';
import { describeLostWrite, findLostWrites } from './lost-writes.ts';

/** A history written as [callTime, returnTime (Infinity: indeterminate), input, output]. */
function ops(...rows: [number, number, KvInput, KvOutput | undefined][]): KvOperation[] {
  return rows.map(([callTime, returnTime, input, output], i) => ({
    clientId: i,
    input,
    output,
    callTime,
    returnTime,
  }));
}

const put = (key: string, value: string): KvInput => ({ kind: 'put', key, value });
const OK_PUT: KvOutput = { kind: 'put' };

describe('lost-write check', () => {
  test('finds a lost write: the last acknowledged put is gone, an older value is back', () => {
    const h = ops([0, 1, put('k', 'v1'), OK_PUT], [2, 3, put('k', 'v2'), OK_PUT]);
    const r = findLostWrites(h, new Map([['k', 'v1']]));
    assert.equal(r.lost.length, 1);
    assert.deepEqual(r.lost[0], { key: 'k', found: 'v1', possible: ['v2'] });
    assert.match(describeLostWrite(r.lost[0]!), /lost write on "k": read back "v1", expected one of "v2"/);
    assert.equal(findLostWrites(h, new Map([['k', 'v2']])).lost.length, 0);
  });

  test('a key written once and acknowledged must be there', () => {
    const h = ops([0, 1, put('u1', 'a'), OK_PUT], [0, 2, put('u2', 'b'), OK_PUT]);
    const r = findLostWrites(h, new Map([['u1', 'a']]));
    assert.deepEqual(
      r.lost.map((l) => [l.key, l.found]),
      [['u2', null]],
    );
    assert.equal(r.keysChecked, 2);
    assert.equal(r.ackedWrites, 2);
  });

  test('concurrent acknowledged writes: either may be last', () => {
    const h = ops([0, 5, put('k', 'a'), OK_PUT], [1, 4, put('k', 'b'), OK_PUT]);
    assert.equal(findLostWrites(h, new Map([['k', 'a']])).lost.length, 0);
    assert.equal(findLostWrites(h, new Map([['k', 'b']])).lost.length, 0);
    assert.equal(findLostWrites(h, new Map()).lost.length, 1);
  });

  test('an indeterminate write may be last whenever it was called, or never', () => {
    const h = ops([0, Infinity, put('k', 'maybe'), undefined], [3, 4, put('k', 'sure'), OK_PUT]);
    assert.equal(findLostWrites(h, new Map([['k', 'maybe']])).lost.length, 0);
    assert.equal(findLostWrites(h, new Map([['k', 'sure']])).lost.length, 0);
    assert.equal(findLostWrites(h, new Map([['k', 'other']])).lost.length, 1);
    // Only indeterminate writes: absent is fine too (none took effect).
    const only = ops([0, Infinity, put('j', 'x'), undefined]);
    assert.equal(findLostWrites(only, new Map()).lost.length, 0);
    assert.equal(findLostWrites(only, new Map([['j', 'x']])).lost.length, 0);
  });

  test('deletes leave the key absent; a failed compare-and-swap writes nothing', () => {
    const h = ops(
      [0, 1, put('k', 'a'), OK_PUT],
      [2, 3, { kind: 'delete', key: 'k' }, { kind: 'delete', deleted: true }],
      [4, 5, { kind: 'cas', key: 'k', expected: 'a', value: 'c' }, { kind: 'cas', succeeded: false }],
    );
    assert.equal(findLostWrites(h, new Map()).lost.length, 0);
    assert.equal(findLostWrites(h, new Map([['k', 'c']])).lost.length, 1);
    assert.equal(findLostWrites(h, new Map([['k', 'a']])).lost.length, 1);
  });

  test('a successful compare-and-swap is a write that supersedes older ones', () => {
    const h = ops(
      [0, 1, put('k', 'a'), OK_PUT],
      [2, 3, { kind: 'cas', key: 'k', expected: 'a', value: 'b' }, { kind: 'cas', succeeded: true }],
    );
    assert.equal(findLostWrites(h, new Map([['k', 'b']])).lost.length, 0);
    assert.equal(findLostWrites(h, new Map([['k', 'a']])).lost.length, 1);
  });

  test('reads alone check nothing', () => {
    const h = ops([0, 1, { kind: 'get', key: 'k' }, { kind: 'get', found: false, value: '' }]);
    assert.deepEqual(findLostWrites(h, new Map([['k', 'x']])), { keysChecked: 0, ackedWrites: 0, lost: [] });
  });
});
