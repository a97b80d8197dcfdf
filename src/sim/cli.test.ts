// The `ringkv sim` command as a user runs it: the last stdout line, the exit status, the reproduce
// command of a failing seed, and usage errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..');
const node = join(root, 'node_modules', '.bin', 'node');

function sim(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(node, ['src/cli/main.ts', 'sim', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lastLine(s: string): string {
  return s.trimEnd().split('\n').at(-1) ?? '';
}

test('a clean run ends with the summary line and exits 0', () => {
  const r = sim('--seeds', '3');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(lastLine(r.stdout), 'seeds: 3, violations: 0');
});

test('a planted bug is reported with the property, a trace excerpt and the reproduce command; exit 1', () => {
  const r = sim('--seeds', '2', '--start', '7', '--nodes', '3', '--bug', 'ackBeforeSync');
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL seed 7 \(3 nodes, planted bug ackBeforeSync\): durability violated/);
  assert.match(r.stdout, /trace, last lines:/);
  assert.ok(
    r.stdout.includes('reproduce: npx ringkv sim --seeds 1 --start 7 --nodes 3 --bug ackBeforeSync --trace'),
    r.stdout,
  );
  assert.equal(lastLine(r.stdout), 'seeds: 2, violations: 2');
});

test('bad options exit 2 with a clear message', () => {
  for (const args of [
    ['--seeds', 'many'],
    ['--nodes', '4'],
    ['--bug', 'nope'],
    ['--steps', '0'],
  ]) {
    const r = sim(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /ringkv sim: /, args.join(' '));
  }
  const unknown = sim('--bug', 'nope');
  assert.match(unknown.stderr, /known bugs: .*ackBeforeSync/);
});

test('--list-bugs lists every planted bug', () => {
  const r = sim('--list-bugs');
  assert.equal(r.status, 0);
  for (const name of [
    'commitPreviousTermByCount',
    'voteTwiceInTerm',
    'skipLogUpToDateCheck',
    'ackBeforeSync',
  ]) {
    assert.match(r.stdout, new RegExp(name));
  }
});
