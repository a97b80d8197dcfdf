// `ringkv check-history` end to end, as a user runs it: a child process, its output lines and exit
// status. (Kept in src/lincheck because the command is a thin shell over this folder.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';

const repoRoot = resolve(import.meta.dirname, '..', '..');
const dataDir = join(import.meta.dirname, 'testdata', 'porcupine');
const tempDir = mkdtempSync(join(tmpdir(), 'ringkv-check-history-'));
after(() => rmSync(tempDir, { recursive: true, force: true }));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const child = spawnSync(
    join(repoRoot, 'node_modules', '.bin', 'node'),
    [join(repoRoot, 'src', 'cli', 'main.ts'), 'check-history', ...args],
    { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 },
  );
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

const data = (name: string) => join(dataDir, name);

test('all linearizable: one line per file, exit 0 (an empty file is an empty history)', () => {
  const r = run('--format', 'etcd-log', data('etcd_005.log'), data('etcd_095.log'));
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trimEnd().split('\n'), [
    `${data('etcd_005.log')}: linearizable`,
    `${data('etcd_095.log')}: linearizable`,
  ]);
});

test('a violation: "not linearizable", an indented report with file line numbers, exit 1', () => {
  const r = run('--format', 'jepsen-kv', data('c01-ok.txt'), data('c01-bad.txt'));
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines[0], `${data('c01-ok.txt')}: linearizable`);
  assert.equal(lines[1], `${data('c01-bad.txt')}: not linearizable`);
  const report = lines.slice(2);
  assert.ok(report.length > 3 && report.length < 20, r.stdout);
  assert.ok(
    report.every((l) => l.startsWith('  ')),
    r.stdout,
  );
  // README: line 60 of c01-bad.txt is a get on "7" returning "x 0 0 y" where "x 0 0 yx 0 3 y" is due.
  assert.ok(report.includes('      client 0  lines 59-60  get("7") -> "x 0 0 y"'), r.stdout);
  assert.ok(report.includes('    state then: x 0 0 yx 0 3 y'), r.stdout);
  assert.equal(r.stderr, '');
});

test('a malformed line, a missing file or a wrong format give "error" lines and exit 2, not a stack trace', () => {
  const bad = join(tempDir, 'bad.log');
  writeFileSync(
    bad,
    'INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:invoke\t:write\tseven\n',
  );
  const missing = join(tempDir, 'missing.log');
  const r = run('--format', 'etcd-log', data('etcd_000.log'), bad, missing, data('c01-ok.txt'));
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines[0], `${data('etcd_000.log')}: not linearizable`);
  assert.ok(lines.includes(`${bad}: error: line 2: :invoke :write takes an integer, got 'seven'`), r.stdout);
  assert.ok(lines.includes(`${missing}: error: cannot read the file (no such file)`), r.stdout);
  assert.match(
    r.stdout,
    /c01-ok\.txt: error: no etcd-log events in 116 non-empty line\(s\); is --format right\?/,
  );
  assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /);
});

test('an unknown --format or a bad --budget-ms is refused with exit 2 and a clear message', () => {
  const r = run('--format', 'csv', data('etcd_000.log'));
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /unknown --format 'csv': expected one of etcd-log, jepsen-kv/);
  const b = run('--format', 'etcd-log', '--budget-ms', 'soon', data('etcd_000.log'));
  assert.equal(b.status, 2);
  assert.match(b.stderr, /--budget-ms must be a positive integer/);
});
