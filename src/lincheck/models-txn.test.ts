// The transaction model: a transaction is one atomic operation over several keys. A history where a
// reader sees half of a transfer is rejected (the per-key model accepts it: each key on its own is
// consistent), a linearizable one is accepted, and a transaction's branch and results must be the
// ones its compares call for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkOperations } from './check.ts';
import { partitionByKeyGroup, runTxn, txnModel } from './models.ts';
import type { TxnInput, TxnOperation, TxnOpOutput, TxnOutput } from './types.ts';

const OPEN = Number.POSITIVE_INFINITY;

function op(
  clientId: number,
  callTime: number,
  returnTime: number,
  input: TxnInput,
  output: TxnOutput | undefined,
): TxnOperation {
  return { clientId, callTime, returnTime, input, output };
}

const got = (value: string | null): TxnOpOutput =>
  value === null ? { op: 'get', found: false, value: '' } : { op: 'get', found: true, value };
const put = (key: string, value: string) => ({ op: 'put' as const, key, value });
const get = (key: string) => ({ op: 'get' as const, key });

/** a=100, b=0; then a transfer of 10 (a=90, b=10) if a is still 100. */
const setup = op(
  0,
  0,
  1,
  { compares: [], success: [put('a', '100'), put('b', '0')], failure: [] },
  {
    succeeded: true,
    results: [{ op: 'put' }, { op: 'put' }],
  },
);
const transfer = (t0: number, t1: number, output: TxnOutput | undefined) =>
  op(
    1,
    t0,
    t1,
    {
      compares: [{ kind: 'value', key: 'a', value: '100' }],
      success: [put('a', '90'), put('b', '10')],
      failure: [get('a')],
    },
    output,
  );
const read = (clientId: number, t0: number, t1: number, a: string, b: string) =>
  op(
    clientId,
    t0,
    t1,
    { compares: [], success: [get('a'), get('b')], failure: [] },
    {
      succeeded: true,
      results: [got(a), got(b)],
    },
  );
const done: TxnOutput = { succeeded: true, results: [{ op: 'put' }, { op: 'put' }] };

test('a reader that sees half of a transaction is rejected', () => {
  // The read overlaps the transfer, so it may see before or after, never a=90 with b=0.
  const ops = [setup, transfer(2, 6, done), read(2, 3, 5, '90', '0')];
  const r = checkOperations(txnModel, ops);
  assert.equal(r.verdict, 'not linearizable', JSON.stringify(r.partitions.map((p) => p.verdict)));
});

test('readers that see all of it or none of it are accepted, in any order the times allow', () => {
  const ops = [
    setup,
    transfer(2, 6, done),
    read(2, 3, 5, '100', '0'),
    read(3, 3, 7, '90', '10'),
    read(4, 8, 9, '90', '10'),
  ];
  assert.equal(checkOperations(txnModel, ops).verdict, 'linearizable');
});

test('a reader after a transaction returned must see it', () => {
  const ops = [setup, transfer(2, 3, done), read(2, 4, 5, '100', '0')];
  assert.equal(checkOperations(txnModel, ops).verdict, 'not linearizable');
});

test('the branch must be the one the compares call for, with its results', () => {
  const wrongBranch = [setup, transfer(2, 3, { succeeded: false, results: [got('100')] })];
  assert.equal(checkOperations(txnModel, wrongBranch).verdict, 'not linearizable');
  // A second transfer finds a=90: its compare fails and its else branch reads 90.
  const second = [setup, transfer(2, 3, done), transfer(4, 5, { succeeded: false, results: [got('90')] })];
  assert.equal(checkOperations(txnModel, second).verdict, 'linearizable');
  const wrongRead = [
    setup,
    transfer(2, 3, done),
    transfer(4, 5, { succeeded: false, results: [got('100')] }),
  ];
  assert.equal(checkOperations(txnModel, wrongRead).verdict, 'not linearizable');
});

test('an indeterminate transaction may have happened once, or not at all', () => {
  const maybe = transfer(2, OPEN, undefined);
  assert.equal(checkOperations(txnModel, [setup, maybe, read(2, 4, 5, '90', '10')]).verdict, 'linearizable');
  assert.equal(checkOperations(txnModel, [setup, maybe, read(2, 4, 5, '100', '0')]).verdict, 'linearizable');
  assert.equal(
    checkOperations(txnModel, [setup, maybe, read(2, 4, 5, '90', '0')]).verdict,
    'not linearizable',
  );
});

test('sequential semantics inside a transaction: a get sees the earlier put, a delete what is there', () => {
  const { next, expected } = runTxn(new Map([['k', 'old']]), {
    compares: [
      { kind: 'exists', key: 'k' },
      { kind: 'absent', key: 'z' },
    ],
    success: [put('k', 'new'), get('k'), { op: 'delete', key: 'k' }, { op: 'delete', key: 'k' }, get('k')],
    failure: [],
  });
  assert.deepEqual(expected, {
    succeeded: true,
    results: [
      { op: 'put' },
      got('new'),
      { op: 'delete', deleted: true },
      { op: 'delete', deleted: false },
      got(null),
    ],
  });
  assert.deepEqual([...next], []);
});

test('keys tied by a transaction are checked together; others apart', () => {
  const lone = op(
    5,
    0,
    1,
    { compares: [], success: [put('c', '1')], failure: [] },
    { succeeded: true, results: [{ op: 'put' }] },
  );
  const parts = partitionByKeyGroup([setup, lone, read(2, 3, 5, '100', '0')]);
  assert.deepEqual(parts.map((p) => p.length).sort(), [1, 2]);
  assert.equal(
    txnModel.key(
      new Map([
        ['a', '1'],
        ['b', '2'],
      ]),
    ),
    txnModel.key(
      new Map([
        ['b', '2'],
        ['a', '1'],
      ]),
    ),
  );
});
