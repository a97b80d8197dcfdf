import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkOperations } from './check.ts';
import { kvModel, registerModel } from './models.ts';
import type { KvOperation, RegisterInput, RegisterOperation, RegisterOutput } from './types.ts';
import { formatViolation } from './violation.ts';

const OPEN = Number.POSITIVE_INFINITY;

function op(
  clientId: number,
  input: RegisterInput,
  output: RegisterOutput | undefined,
  callTime: number,
  returnTime: number,
): RegisterOperation {
  return { clientId, input, output, callTime, returnTime };
}
const write = (c: number, v: number, call: number, ret: number) =>
  op(c, { kind: 'write', value: v }, ret === OPEN ? undefined : { kind: 'write' }, call, ret);
const read = (c: number, v: number | null, call: number, ret: number) =>
  op(c, { kind: 'read' }, { kind: 'read', exists: v !== null, value: v ?? 0 }, call, ret);
const cas = (c: number, from: number, to: number, ok: boolean | undefined, call: number, ret: number) =>
  op(c, { kind: 'cas', from, to }, ok === undefined ? undefined : { kind: 'cas', ok }, call, ret);

const verdictOf = (ops: RegisterOperation[]) => checkOperations(registerModel, ops).verdict;

test('the empty history is linearizable', () => {
  const result = checkOperations(registerModel, []);
  assert.equal(result.verdict, 'linearizable');
  assert.equal(result.violation, undefined);
});

test('a sequential history that follows the model is linearizable', () => {
  assert.equal(
    verdictOf([
      read(0, null, 0, 1),
      write(0, 1, 2, 3),
      read(1, 1, 4, 5),
      write(1, 2, 6, 7),
      read(0, 2, 8, 9),
    ]),
    'linearizable',
  );
});

test('a stale read is caught, and the report points at it', () => {
  const ops = [write(0, 1, 0, 1), write(1, 2, 2, 3), read(2, 1, 4, 5)];
  const result = checkOperations(registerModel, ops);
  assert.equal(result.verdict, 'not linearizable');
  const v = result.violation!;
  assert.equal(v.blocked.operation, ops[2]);
  assert.deepEqual(
    v.prefix.map((r) => r.operation),
    [ops[0], ops[1]],
  );
  assert.equal(v.stateAfterPrefix, '2');
  assert.equal(v.partitionOperations, 3);
  const text = formatViolation(v).join('\n');
  assert.match(text, /cannot be linearized:\n {4}client 2 {2}t=4\.\.5 {2}read\(\) -> 1/);
  assert.match(text, /state then: 2/);
});

test('concurrent operations may linearize in either order', () => {
  // The write overlaps both reads: one sees the old value, the other the new one.
  assert.equal(verdictOf([write(0, 1, 0, 10), read(1, null, 1, 2), read(2, 1, 3, 4)]), 'linearizable');
  // Two overlapping writes: later reads may see either as the last one …
  assert.equal(verdictOf([write(0, 1, 0, 5), write(1, 2, 1, 6), read(2, 1, 7, 8)]), 'linearizable');
  assert.equal(verdictOf([write(0, 1, 0, 5), write(1, 2, 1, 6), read(2, 2, 7, 8)]), 'linearizable');
  // … but not both, one after the other.
  assert.equal(
    verdictOf([write(0, 1, 0, 5), write(1, 2, 1, 6), read(2, 2, 7, 8), read(2, 1, 9, 10)]),
    'not linearizable',
  );
});

test('operations whose intervals only touch count as concurrent', () => {
  assert.equal(verdictOf([write(0, 1, 0, 5), read(1, null, 5, 6)]), 'linearizable');
  assert.equal(verdictOf([write(0, 1, 0, 5), read(1, null, 6, 7)]), 'not linearizable');
});

test('an indeterminate write may take effect late, or never, but not before its call or twice', () => {
  // Late: seen long after its call, after a read that did not see it.
  assert.equal(verdictOf([write(0, 1, 0, OPEN), read(1, null, 1, 2), read(1, 1, 5, 6)]), 'linearizable');
  // Never.
  assert.equal(verdictOf([write(0, 1, 0, OPEN), read(1, null, 5, 6), read(1, null, 7, 8)]), 'linearizable');
  // Not undone once seen.
  assert.equal(verdictOf([write(0, 1, 0, OPEN), read(1, 1, 3, 4), read(1, null, 5, 6)]), 'not linearizable');
  // Not before it was called.
  assert.equal(verdictOf([read(1, 1, 0, 1), write(0, 1, 2, OPEN)]), 'not linearizable');
});

test('an operation that returned with an unknown output accepts any output but keeps its interval', () => {
  const timedOutRead = op(1, { kind: 'read' }, undefined, 2, 3);
  assert.equal(verdictOf([write(0, 1, 0, 1), timedOutRead, read(2, 1, 4, 5)]), 'linearizable');
});

test('cas: succeeds only on a match, a false failure is caught, an unknown cas may apply', () => {
  assert.equal(verdictOf([write(0, 0, 0, 1), cas(1, 0, 1, true, 2, 3), read(2, 1, 4, 5)]), 'linearizable');
  assert.equal(verdictOf([write(0, 0, 0, 1), cas(1, 0, 1, false, 2, 3)]), 'not linearizable');
  assert.equal(verdictOf([write(0, 0, 0, 1), cas(1, 5, 1, true, 2, 3)]), 'not linearizable');
  assert.equal(
    verdictOf([write(0, 0, 0, 1), cas(1, 0, 1, undefined, 2, OPEN), read(2, 1, 4, 5)]),
    'linearizable',
  );
  assert.equal(
    verdictOf([write(0, 0, 0, 1), cas(1, 0, 1, undefined, 2, OPEN), read(2, 0, 4, 5)]),
    'linearizable',
  );
  // An unknown cas whose `from` never matches cannot produce its `to`.
  assert.equal(
    verdictOf([write(0, 0, 0, 1), cas(1, 7, 1, undefined, 2, OPEN), read(2, 1, 4, 5)]),
    'not linearizable',
  );
});

/** n overlapping writes of 1..n, then a read of a value nobody wrote: the search must try every order. */
function hardViolation(n: number): RegisterOperation[] {
  const ops = Array.from({ length: n }, (_, i) => write(i, i + 1, i, 100 + i));
  ops.push(read(n, 999, 200, 201));
  return ops;
}

test('past the time budget the verdict is unknown (clock injected, read only every many steps)', () => {
  let clockReads = 0;
  const now = () => clockReads++;
  const result = checkOperations(registerModel, hardViolation(12), { budgetMsPerPartition: 5, now });
  assert.equal(result.verdict, 'unknown');
  assert.equal(result.partitions[0]?.unknownReason, 'budget');
  assert.ok(clockReads < 100, `the clock was read ${clockReads} times`);
  const decided = checkOperations(registerModel, hardViolation(12), { budgetMsPerPartition: 1e9, now });
  assert.equal(decided.verdict, 'not linearizable');
});

test('past the memo bound the verdict is unknown', () => {
  const result = checkOperations(registerModel, hardViolation(10), { memoEntriesMax: 50 });
  assert.equal(result.verdict, 'unknown');
  assert.equal(result.partitions[0]?.unknownReason, 'memo-full');
});

const kvGet = (c: number, key: string, value: string | null, call: number, ret: number): KvOperation => ({
  clientId: c,
  input: { kind: 'get', key },
  output: { kind: 'get', found: value !== null, value: value ?? '' },
  callTime: call,
  returnTime: ret,
});
const kvPut = (c: number, key: string, value: string, call: number, ret: number): KvOperation => ({
  clientId: c,
  input: { kind: 'put', key, value },
  output: { kind: 'put' },
  callTime: call,
  returnTime: ret,
});

test('keys are checked apart, and the smallest failing partition is the one reported', () => {
  const ops = [
    kvPut(0, 'big', 'x', 0, 1),
    kvGet(1, 'big', 'x', 2, 3),
    kvGet(1, 'big', 'y', 4, 5), // violation in a 4-operation partition
    kvGet(1, 'big', 'x', 6, 7),
    kvPut(0, 'small', 'a', 10, 11),
    kvGet(2, 'small', null, 12, 13), // violation in a 2-operation partition
    kvPut(0, 'fine', 'z', 20, 21),
  ];
  const result = checkOperations(kvModel, ops);
  assert.equal(result.verdict, 'not linearizable');
  assert.equal(result.violation?.partitionOperations, 2);
  assert.equal(result.violation?.blocked.operation, ops[5]);
  assert.match(formatViolation(result.violation!).join('\n'), /get\("small"\) -> absent/);
  assert.deepEqual(
    result.partitions.map((p) => [p.index, p.operations, p.verdict, p.unknownReason]),
    [
      [0, 4, 'unknown', 'skipped'],
      [1, 2, 'not linearizable', undefined],
      [2, 1, 'linearizable', undefined],
    ],
  );
});

test('a partition that is fine does not hide a failing one, and all-fine partitions are linearizable', () => {
  const fine = [kvPut(0, 'a', 'x', 0, 1), kvGet(1, 'a', 'x', 2, 3), kvGet(1, 'b', null, 0, 1)];
  assert.equal(checkOperations(kvModel, fine).verdict, 'linearizable');
  assert.equal(checkOperations(kvModel, [...fine, kvGet(2, 'b', 'q', 4, 5)]).verdict, 'not linearizable');
});

test('an operation that returns before its call is refused with its values', () => {
  assert.throws(() => checkOperations(registerModel, [read(0, null, 5, 4)]), /callTime 5 and returnTime 4/);
});

test('formatViolation keeps the report compact: only the tail of a long prefix', () => {
  const ops = Array.from({ length: 20 }, (_, i) => write(0, i, 2 * i, 2 * i + 1));
  ops.push(read(1, 3, 100, 101));
  const result = checkOperations(registerModel, ops);
  const lines = formatViolation(result.violation!, { prefixLinesMax: 2 });
  assert.match(lines[0]!, /no linearization after 20 operations/);
  assert.match(lines[1]!, /18 earlier not shown/);
  assert.ok(lines.length < 12, lines.join('\n'));
});
