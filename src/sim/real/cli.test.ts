// `ringkv sim` as a user runs it: the last stdout line, the exit status, the reproduce
// command of a failing seed, and usage errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { REAL_PLANTED_BUGS } from './bugs.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const node = join(root, 'node_modules', '.bin', 'node');

function sim(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(node, ['src/cli/main.ts', 'sim', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lastLine(s: string): string {
  return s.trimEnd().split('\n').at(-1) ?? '';
}

test('a clean run ends with the summary line and exits 0', () => {
  const r = sim('--seeds', '2', '--start', '5', '--nodes', '3');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(lastLine(r.stdout), 'seeds: 2, violations: 0');
});

test('without --nodes each seed draws its machine count, and --real is accepted and changes nothing', () => {
  // Seeds 1..3 draw 5, 4 and 3 machines (nodesOfSeed).
  const r = sim('--seeds', '3', '--real');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /ran 3 seed\(s\) \(1 of 3 nodes, 1 of 4 nodes, 1 of 5 nodes\)/);
  assert.equal(lastLine(r.stdout), 'seeds: 3, violations: 0');
  // A failing seed's reproduce command names the count it drew.
  const failed = sim('--seeds', '1', '--bug', 'ackBeforeSync');
  assert.equal(failed.status, 1, failed.stdout + failed.stderr);
  assert.ok(
    failed.stdout.includes(
      'reproduce: npx ringkv sim --seeds 1 --start 1 --nodes 5 --bug ackBeforeSync --trace',
    ),
    failed.stdout,
  );
});

test('a planted bug is reported with the property, the trace and the reproduce command; exit 1', () => {
  const r = sim('--seeds', '2', '--start', '3', '--bug', 'ackBeforeSync');
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL seed 3 \(3 nodes, planted bug ackBeforeSync\): durability violated/);
  assert.match(r.stdout, /trace, last lines:/);
  assert.ok(
    r.stdout.includes('reproduce: npx ringkv sim --seeds 1 --start 3 --nodes 3 --bug ackBeforeSync --trace'),
    r.stdout,
  );
  assert.equal(lastLine(r.stdout), 'seeds: 2, violations: 2');
});

test('the reproduce command replays the failing seed with its trace', () => {
  const r = sim('--seeds', '1', '--start', '3', '--nodes', '3', '--bug', 'ackBeforeSync', '--trace');
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /VIOLATION durability/);
  assert.match(r.stdout, /seed 3: trace hash [0-9a-f]{16}/);
  assert.equal(lastLine(r.stdout), 'seeds: 1, violations: 1');
});

test('bad options exit 2 with a clear message; --list-bugs lists every planted bug', () => {
  for (const args of [
    ['--seeds', 'many'],
    ['--seeds', '0'],
    ['--nodes', '7'],
    ['--nodes', '2'],
    ['--bug', 'staleLocalReads'],
  ]) {
    const r = sim(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /ringkv sim: /, args.join(' '));
  }
  assert.match(sim('--bug', 'nope').stderr, /known bugs: .*commitPreviousTermByCount.*ackBeforeSync/);
  const list = sim('--list-bugs');
  assert.equal(list.status, 0);
  for (const b of REAL_PLANTED_BUGS) assert.match(list.stdout, new RegExp(`^${b.name} `, 'm'));
});

test('the reproduce command carries --sector-tearing', () => {
  const r = sim('--seeds', '1', '--start', '3', '--nodes', '3', '--bug', 'ackBeforeSync', '--sector-tearing');
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.ok(
    r.stdout.includes(
      'reproduce: npx ringkv sim --seeds 1 --start 3 --nodes 3 --bug ackBeforeSync --sector-tearing --trace',
    ),
    r.stdout,
  );
});

test('--nodes 4 runs four machines, and the reproduce command carries it', () => {
  const r = sim('--seeds', '1', '--start', '3', '--nodes', '4', '--bug', 'ackBeforeSync');
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL seed 3 \(4 nodes, planted bug ackBeforeSync\)/);
  assert.ok(
    r.stdout.includes('reproduce: npx ringkv sim --seeds 1 --start 3 --nodes 4 --bug ackBeforeSync --trace'),
    r.stdout,
  );
});
