// The transcript file format: parsing, argument syntax, and rewriting that keeps comments and
// commands verbatim (so REWRITE=1 only ever changes expected outputs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArg, parseDataDriven, renderDataDriven, tokenize } from './datadriven.ts';

const FILE = `# a story
add-nodes 3 voters=(1,2,3) index=2
----
ok

# blank lines inside output use the fenced form
status 1
----
----
line one

line three
----
----

propose 1 "hello world"
----
error
`;

test('parses commands, arguments, comments and both output forms', () => {
  const p = parseDataDriven(FILE, 'f.txt');
  assert.equal(p.cases.length, 3);
  const [a, b, c] = p.cases;
  assert.equal(a?.cmd, 'add-nodes');
  assert.deepEqual(a?.args, [
    { key: '3', vals: [] },
    { key: 'voters', vals: ['1', '2', '3'] },
    { key: 'index', vals: ['2'] },
  ]);
  assert.equal(a?.expected, 'ok');
  assert.equal(a?.pos, 'f.txt:2');
  assert.equal(b?.expected, 'line one\n\nline three');
  assert.equal(c?.args[1]?.key, 'hello world');
  assert.equal(c?.expected, 'error');
});

test('rendering with the same outputs reproduces the file; new outputs replace only outputs', () => {
  const p = parseDataDriven(FILE, 'f.txt');
  assert.equal(
    renderDataDriven(
      p,
      p.cases.map((c) => c.expected),
    ),
    FILE,
  );
  const again = parseDataDriven(renderDataDriven(p, ['x', 'y', 'z\n\nw']), 'f.txt');
  assert.deepEqual(
    again.cases.map((c) => [c.commandText, c.expected]),
    [
      ['add-nodes 3 voters=(1,2,3) index=2', 'x'],
      ['status 1', 'y'],
      ['propose 1 "hello world"', 'z\n\nw'],
    ],
  );
});

test('tokenizer and argument syntax; malformed input is reported with its position', () => {
  assert.deepEqual(tokenize('partition 1 / 2,3'), ['partition', '1', '/', '2,3']);
  assert.deepEqual(parseArg('l=(a, b)'), { key: 'l', vals: ['a', 'b'] });
  assert.throws(() => tokenize('x (a'), /unbalanced/);
  assert.throws(() => parseDataDriven('cmd\nno separator\n', 'bad.txt'), /bad\.txt:1/);
});
