// Narrowing indeterminate writes before the linearizability check: never-applied writes disappear,
// applied ones get their first application time as return time, everything else is untouched.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KvOperation } from '../lincheck/index.ts';
import { refineIndeterminate } from './run.ts';

const INF = Number.POSITIVE_INFINITY;

test('indeterminate writes are dropped or bounded by their first application', () => {
  const done: KvOperation = {
    clientId: 1,
    input: { kind: 'put', key: 'k', value: 'a' },
    output: { kind: 'put' },
    callTime: 0,
    returnTime: 5,
  };
  const applied: KvOperation = {
    clientId: 2,
    input: { kind: 'put', key: 'k', value: 'b' },
    output: undefined,
    callTime: 10,
    returnTime: INF,
  };
  const lost: KvOperation = {
    clientId: 3,
    input: { kind: 'delete', key: 'k' },
    output: undefined,
    callTime: 12,
    returnTime: INF,
  };
  const seqOf = new Map([
    [applied, 4],
    [lost, 1],
  ]);
  const out = refineIndeterminate([done, applied, lost], seqOf, new Map([['2:4', 42]]));
  assert.equal(out.length, 2);
  assert.equal(out[0], done);
  assert.deepEqual(out[1], { ...applied, returnTime: 42 });
});
