import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HistoryFormatError } from './errors.ts';
import { parseEtcdLog } from './etcd-log.ts';

const P = 'INFO  jepsen.util - ';

test('tabs and runs of spaces both separate fields; times are event sequence numbers', () => {
  const text = [
    `${P}0\t:invoke\t:read\tnil`,
    `${P}1   :invoke :write  3`,
    `${P}1   :ok     :write  3`,
    `${P}0\t:ok\t:read\t3`,
    `${P}2\t:invoke\t:cas\t[3 4]`,
    `${P}2\t:fail\t:cas\t[3 4]`,
    `${P}3\t:invoke\t:read\tnil`,
    `${P}3\t:ok\t:read\tnil`,
  ].join('\n');
  const { operations, lines } = parseEtcdLog(text, 'x.log');
  assert.deepEqual(operations, [
    {
      clientId: 0,
      input: { kind: 'read' },
      output: { kind: 'read', exists: true, value: 3 },
      callTime: 0,
      returnTime: 3,
    },
    {
      clientId: 1,
      input: { kind: 'write', value: 3 },
      output: { kind: 'write' },
      callTime: 1,
      returnTime: 2,
    },
    {
      clientId: 2,
      input: { kind: 'cas', from: 3, to: 4 },
      output: { kind: 'cas', ok: false },
      callTime: 4,
      returnTime: 5,
    },
    {
      clientId: 3,
      input: { kind: 'read' },
      output: { kind: 'read', exists: false, value: 0 },
      callTime: 6,
      returnTime: 7,
    },
  ]);
  assert.deepEqual(lines[0], { callLine: 1, returnLine: 4 });
});

test(':info leaves the call open to the end; :fail :read :timed-out returns with an unknown output', () => {
  const text = [
    `${P}0\t:invoke\t:write\t1`,
    `${P}1\t:invoke\t:read\tnil`,
    `${P}0\t:info\t:write\t:timed-out`,
    `${P}1\t:fail\t:read\t:timed-out`,
    `${P}5\t:invoke\t:cas\t[1 2]`,
    `${P}5\t:info\t:cas\t:timed-out`,
  ].join('\n');
  const { operations, lines } = parseEtcdLog(text);
  assert.equal(operations.length, 3);
  assert.deepEqual(operations[0], {
    clientId: 0,
    input: { kind: 'write', value: 1 },
    output: undefined,
    callTime: 0,
    returnTime: Number.POSITIVE_INFINITY,
  });
  assert.deepEqual(operations[1], {
    clientId: 1,
    input: { kind: 'read' },
    output: undefined,
    callTime: 1,
    returnTime: 2,
  });
  assert.equal(operations[2]?.returnTime, Number.POSITIVE_INFINITY);
  assert.deepEqual(lines[0], { callLine: 1, returnLine: undefined });
});

test('lines that are not events are ignored; an empty text is an empty history', () => {
  const text = [
    '',
    'some banner',
    'INFO  jepsen.core - Running test',
    'INFO  jepsen.util - Starting',
    `${P}0 :invoke :read nil`,
  ].join('\n');
  assert.equal(parseEtcdLog(text).operations.length, 1);
  assert.deepEqual(parseEtcdLog('').operations, []);
});

function formatError(text: string): HistoryFormatError {
  try {
    parseEtcdLog(text, 'bad.log');
  } catch (err) {
    if (err instanceof HistoryFormatError) return err;
    throw err;
  }
  assert.fail('expected a HistoryFormatError');
}

test('a malformed event line is a HistoryFormatError with file, line number and reason', () => {
  const cases: [string, RegExp][] = [
    [`${P}0\t:invoke\t:write\tabc`, /:invoke :write takes an integer, got 'abc'/],
    [`${P}0\t:invoke\t:cas\t[1]`, /:invoke :cas takes \[from to\]/],
    [`${P}0\t:invoke\t:delete\t1`, /operation must be :read, :write or :cas, got ':delete'/],
    [`${P}0\t:done\t:read\tnil`, /event type must be/],
    [`${P}x\t:invoke\t:read\tnil`, /process must be a non-negative integer, got 'x'/],
    [`${P}0\t:invoke\t:read\t5`, /:invoke :read takes nil/],
  ];
  for (const [line, reason] of cases) {
    const err = formatError(`${P}9\t:invoke\t:read\tnil\n${line}`);
    assert.equal(err.code, 'HISTORY_FORMAT');
    assert.equal(err.file, 'bad.log');
    assert.equal(err.line, 2, line);
    assert.match(err.reason, reason);
    assert.match(err.message, /^bad\.log, line 2: /);
  }
});

test('completions must match an open invocation of the same process and operation', () => {
  assert.match(
    formatError(`\n\n${P}3\t:ok\t:read\tnil`).message,
    /line 3: completion of :read for process 3, which has no open invocation/,
  );
  assert.match(
    formatError(`${P}3\t:invoke\t:read\tnil\n${P}3\t:ok\t:write\t1`).reason,
    /whose open invocation \(line 1\) is :read/,
  );
  assert.match(
    formatError(`${P}3\t:invoke\t:write\t1\n${P}3\t:ok\t:write\t2`).reason,
    /:ok :write 2 completes :write 1/,
  );
  assert.match(
    formatError(`${P}3\t:invoke\t:cas\t[1 2]\n${P}3\t:ok\t:cas\t[1 3]`).reason,
    /does not match its invocation/,
  );
  const twice = formatError(`${P}3\t:invoke\t:read\tnil\n${P}3\t:invoke\t:read\tnil`);
  assert.equal(twice.line, 2);
  assert.match(twice.reason, /still open/);
  // After :info the process is free again (Jepsen would use a new id, but reuse is harmless).
  assert.equal(
    parseEtcdLog(`${P}3\t:invoke\t:write\t1\n${P}3\t:info\t:write\t:timed-out\n${P}3\t:invoke\t:read\tnil`)
      .operations.length,
    2,
  );
});
