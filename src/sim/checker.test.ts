// The safety checker on hand-made histories: each property is caught when broken.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStorage } from '../raft/index.ts';
import type { Entry, NodeId } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { type CheckedNode, SafetyChecker } from './checker.ts';
import { SimViolation } from './violation.ts';

function entry(i: number, t: number, data: string): Entry {
  return { index: index(i), term: term(t), type: 'normal', data: new TextEncoder().encode(data) };
}

function node(id: string, log: Entry[], t = 1): CheckedNode & { storage: MemoryStorage } {
  const storage = new MemoryStorage();
  storage.append(log);
  return { id: nodeId(id) as NodeId, term: t, storage, rn: undefined };
}

function violation(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof SimViolation) return err.property;
    throw err;
  }
  return 'none';
}

test('election safety: two leaders in one term', () => {
  const c = new SafetyChecker();
  c.onLeader(node('n1', []), 3);
  c.onLeader(node('n1', []), 3); // the same leader seen again is fine
  assert.equal(
    violation(() => c.onLeader(node('n2', []), 3)),
    'electionSafety',
  );
  assert.equal(
    violation(() => c.onLeader(node('n2', []), 4)),
    'none',
  );
});

test('log matching: the same (index, term) with different data or predecessor', () => {
  const c = new SafetyChecker();
  const a = node('n1', [entry(1, 1, 'x'), entry(2, 2, 'y')]);
  c.onPersistEntries(a, [entry(1, 1, 'x'), entry(2, 2, 'y')]);
  const b = node('n2', [entry(1, 1, 'x'), entry(2, 2, 'z')]);
  assert.equal(
    violation(() => c.onPersistEntries(b, [entry(2, 2, 'z')])),
    'logMatching',
  );
  const d = node('n3', [entry(1, 3, 'w'), entry(2, 2, 'y')]);
  assert.equal(
    violation(() => c.onPersistEntries(d, [entry(2, 2, 'y')])),
    'logMatching',
    'different predecessor term',
  );
});

test('state machine safety: different entries applied at one index', () => {
  const c = new SafetyChecker();
  c.onApply(node('n1', []), entry(1, 1, 'x'));
  c.onApply(node('n2', []), entry(1, 1, 'x'));
  assert.equal(
    violation(() => c.onApply(node('n3', []), entry(1, 2, 'x'))),
    'stateMachineSafety',
  );
});

test('leader completeness: a new leader lacking a committed entry', () => {
  const c = new SafetyChecker();
  const a = node('n1', [entry(1, 1, 'x'), entry(2, 1, 'y')]);
  c.onCommit(a, 0, 2);
  assert.equal(
    violation(() => c.onLeader(node('n2', [entry(1, 1, 'x')]), 2)),
    'leaderCompleteness',
  );
  assert.equal(
    violation(() => c.onLeader(node('n3', [entry(1, 1, 'x'), entry(2, 1, 'y'), entry(3, 3, 'z')]), 3)),
    'none',
  );
});

test('leader completeness binds only leaders of terms after the commit', () => {
  const c = new SafetyChecker();
  // Entry 2 (term 2) is first seen committed by a node at term 5.
  c.onCommit(node('n1', [entry(1, 1, 'x'), entry(2, 2, 'y')], 5), 0, 2);
  // A stale leader of term 4 (elected late) may lack it; a leader of term 6 may not.
  assert.equal(
    violation(() => c.onLeader(node('n2', [entry(1, 1, 'x'), entry(2, 4, 'z')], 4), 4)),
    'none',
  );
  assert.equal(
    violation(() => c.onLeader(node('n3', [entry(1, 1, 'x'), entry(2, 4, 'z')], 6), 6)),
    'leaderCompleteness',
  );
});

test('commit beyond the log is caught', () => {
  const c = new SafetyChecker();
  assert.equal(
    violation(() => c.onCommit(node('n1', [entry(1, 1, 'x')]), 0, 2)),
    'commitMonotonic',
  );
});
