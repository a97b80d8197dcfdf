import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readEdnMap } from './edn-map.ts';
import { HistoryFormatError } from './errors.ts';
import { parseJepsenKv } from './jepsen-kv.ts';

const ev = (p: number, type: string, f: string, key: string, value: string) =>
  `{:process ${p}, :type :${type}, :f :${f}, :key "${key}", :value ${value}}`;

test('calls and completions pair per process; times are event sequence numbers', () => {
  const text = [
    ev(0, 'invoke', 'append', '0', '"x 0 0 y"'),
    ev(1, 'invoke', 'get', '0', 'nil'),
    ev(0, 'ok', 'append', '0', '"x 0 0 y"'),
    ev(1, 'ok', 'get', '0', '""'),
    ev(1, 'invoke', 'put', '4', '"v"'),
    ev(1, 'ok', 'put', '4', '"v"'),
  ].join('\n');
  const { operations, lines } = parseJepsenKv(text, 'c.txt');
  assert.deepEqual(operations, [
    {
      clientId: 0,
      input: { kind: 'append', key: '0', value: 'x 0 0 y' },
      output: { kind: 'append' },
      callTime: 0,
      returnTime: 2,
    },
    {
      clientId: 1,
      input: { kind: 'get', key: '0' },
      output: { kind: 'get', found: true, value: '' },
      callTime: 1,
      returnTime: 3,
    },
    {
      clientId: 1,
      input: { kind: 'put', key: '4', value: 'v' },
      output: { kind: 'put' },
      callTime: 4,
      returnTime: 5,
    },
  ]);
  assert.deepEqual(lines[1], { callLine: 2, returnLine: 4 });
});

test(':info leaves the call open to the end, :fail drops it, other lines are ignored', () => {
  const text = [
    ';; a comment',
    ev(0, 'invoke', 'put', 'k', '"a"'),
    ev(0, 'info', 'put', 'k', ':timed-out'),
    '',
    ev(1, 'invoke', 'put', 'k', '"b"'),
    ev(1, 'fail', 'put', 'k', '"b"'),
  ].join('\n');
  const { operations, lines } = parseJepsenKv(text);
  assert.equal(operations.length, 1);
  assert.equal(operations[0]?.output, undefined);
  assert.equal(operations[0]?.returnTime, Number.POSITIVE_INFINITY);
  assert.deepEqual(lines[0], { callLine: 2, returnLine: undefined });
});

function formatError(text: string): HistoryFormatError {
  try {
    parseJepsenKv(text, 'bad.txt');
  } catch (err) {
    if (err instanceof HistoryFormatError) return err;
    throw err;
  }
  assert.fail('expected a HistoryFormatError');
}

test('malformed event lines are HistoryFormatErrors with their line numbers', () => {
  const cases: [string, RegExp][] = [
    ['{:process 0, :type :invoke, :f :get, :key "0", :value nil', /unterminated map/],
    ['{:process 0, :type :invoke, :f :get, :key "0, :value nil}', /unterminated string/],
    ['{:process a, :type :invoke, :f :get, :key "0", :value nil}', /cannot read 'a' at column 11/],
    [
      '{:process "a", :type :invoke, :f :get, :key "0", :value nil}',
      /:process must be a non-negative integer/,
    ],
    [
      '{:process -1, :type :invoke, :f :get, :key "0", :value nil}',
      /:process must be a non-negative integer/,
    ],
    ['{:process 0, :type :invoke, :f :cas, :key "0", :value nil}', /:f must be :get, :put or :append/],
    ['{:process 0, :type :invoke, :f :put, :key "0", :value nil}', /:invoke :put takes a string :value/],
    ['{:process 0, :type :begin, :f :get, :key "0", :value nil}', /:type must be/],
    ['{:process 0, :type :invoke, :f :get, :key 0, :value nil}', /:key must be a string/],
    ['{:process 0, :process 1}', /:process appears twice/],
  ];
  for (const [line, reason] of cases) {
    const err = formatError(`\n${line}`);
    assert.equal(err.line, 2, line);
    assert.match(err.reason, reason);
  }
  assert.match(
    formatError(ev(0, 'ok', 'get', '0', '""')).message,
    /line 1: completion of :get for process 0, which has no open invocation/,
  );
  const mismatch = formatError(
    [ev(0, 'invoke', 'put', '0', '"a"'), ev(0, 'ok', 'put', '0', '"b"')].join('\n'),
  );
  assert.equal(mismatch.line, 2);
  assert.match(mismatch.reason, /differs from its invocation/);
  const getNil = formatError([ev(0, 'invoke', 'get', '0', 'nil'), ev(0, 'ok', 'get', '0', 'nil')].join('\n'));
  assert.match(getNil.reason, /:ok :get must return a string/);
});

test('the EDN reader handles escapes, commas as whitespace, keywords, integers and nil', () => {
  const map = readEdnMap(String.raw`{:a "q\"x\\y\n", :b -12 :c :kw, :d nil}`);
  assert.ok(typeof map !== 'string', String(map));
  assert.equal(map.get(':a'), 'q"x\\y\n');
  assert.equal(map.get(':b'), -12);
  assert.deepEqual(map.get(':c'), { keyword: ':kw' });
  assert.equal(map.get(':d'), null);
  assert.match(String(readEdnMap('{:a 1} trailing')), /unexpected text after }/);
  assert.match(String(readEdnMap('{"a" 1}')), /expected a keyword/);
});
