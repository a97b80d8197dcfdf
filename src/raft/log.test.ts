import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftLog } from './log.ts';
import { EMPTY_CONF_STATE, MemoryStorage } from './storage.ts';
import type { Entry } from './types.ts';
import { index, term } from './types.ts';

const ent = (i: number, t: number): Entry => ({
  index: index(i),
  term: term(t),
  type: 'normal',
  data: new Uint8Array(4),
});
const terms = (es: readonly Entry[]): string => es.map((e) => `${e.index}/${e.term}`).join(' ');

function logWith(stable: Entry[], unstable: Entry[] = []): RaftLog {
  const s = new MemoryStorage();
  s.append(stable);
  const log = new RaftLog(s);
  log.append(unstable);
  return log;
}

test('log: lastIndex/termAt span storage and the unstable tail', () => {
  const log = logWith([ent(1, 1), ent(2, 1)], [ent(3, 2)]);
  assert.equal(log.firstIndex(), 1);
  assert.equal(log.lastIndex(), 3);
  assert.equal(log.termAt(index(0)), 0);
  assert.equal(log.termAt(index(2)), 1);
  assert.equal(log.termAt(index(3)), 2);
  assert.equal(log.termAt(index(4)), undefined);
  assert.equal(terms(log.slice(index(1), index(4), Infinity)), '1/1 2/1 3/2');
});

test('log: maybeAppend accepts a matching prefix, truncates conflicts, bounds commit by the new entries', () => {
  const log = logWith([ent(1, 1), ent(2, 1), ent(3, 1)]);
  assert.equal(log.maybeAppend(index(2), term(2), index(3), [ent(3, 2)]), undefined, 'prev term mismatch');
  const appended = log.maybeAppend(index(1), term(1), index(3), [ent(2, 1), ent(3, 2), ent(4, 2)]);
  assert.deepEqual(appended, { lastNew: 4, overwroteFrom: 3 }, 'entry 3 (term 1) replaced');
  assert.equal(terms(log.slice(index(1), index(5), Infinity)), '1/1 2/1 3/2 4/2');
  assert.equal(log.committed, 3, 'commit is the leader commit when below the last new index');
  const extended = log.maybeAppend(index(3), term(2), index(10), [ent(4, 2), ent(5, 2)]);
  assert.deepEqual(
    extended,
    { lastNew: 5, overwroteFrom: 0 },
    'a matching entry and a new one replace nothing',
  );
  assert.equal(log.committed, 5, 'commit is min(leader commit, last new index)');
});

test('log: appending over a committed entry is an invariant violation', () => {
  const log = logWith([ent(1, 1), ent(2, 1)]);
  log.commitTo(index(2));
  assert.throws(() => log.maybeAppend(index(1), term(1), index(2), [ent(2, 5)]), /conflicts with committed/);
  assert.throws(() => log.commitTo(index(9)), /beyond the last index/);
});

test('log: findConflictByTerm skips whole terms for fast back-off', () => {
  // terms by index: 1:1 2:1 3:3 4:3 5:5
  const log = logWith([ent(1, 1), ent(2, 1), ent(3, 3), ent(4, 3), ent(5, 5)]);
  assert.deepEqual(log.findConflictByTerm(index(5), term(2)), [2, 1]);
  assert.deepEqual(log.findConflictByTerm(index(5), term(4)), [4, 3]);
  assert.deepEqual(log.findConflictByTerm(index(5), term(5)), [5, 5]);
  assert.deepEqual(log.findConflictByTerm(index(5), term(0)), [0, 0]);
});

test('log: Figure 8 — maybeCommit only commits an entry of the given term', () => {
  const log = logWith([ent(1, 1), ent(2, 2)], [ent(3, 4)]);
  assert.equal(log.maybeCommit(index(2), term(4)), false, 'entry 2 is of term 2');
  assert.equal(log.committed, 0);
  assert.equal(log.maybeCommit(index(3), term(4)), true);
  assert.equal(log.committed, 3);
});

test('log: isUpToDate compares last term, then last index (§5.4.1)', () => {
  const log = logWith([ent(1, 1), ent(2, 2)]);
  assert.equal(log.isUpToDate(index(1), term(3)), true);
  assert.equal(log.isUpToDate(index(2), term(2)), true);
  assert.equal(log.isUpToDate(index(1), term(2)), false);
  assert.equal(log.isUpToDate(index(9), term(1)), false);
});

test('log: stableTo ignores entries replaced meanwhile; committed entries are bounded by bytes', () => {
  const storage = new MemoryStorage();
  const log = new RaftLog(storage);
  log.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
  log.append([ent(3, 2)]); // replaced before the driver persisted 3/1
  log.stableTo(index(3), term(1));
  assert.equal(terms(log.unstableEntries()), '1/1 2/1 3/2', 'nothing dropped: 3/1 is gone');
  storage.append([ent(1, 1), ent(2, 1)]); // the driver persisted them, then acknowledges
  log.stableTo(index(2), term(1));
  assert.equal(terms(log.unstableEntries()), '3/2');
  log.commitTo(index(3));
  assert.equal(log.nextCommittedEntries(1).length, 1, 'at least one entry even over the bound');
  assert.equal(log.nextCommittedEntries(Infinity).length, 3);
  log.appliedTo(index(2));
  assert.equal(terms(log.nextCommittedEntries(Infinity)), '3/2');
});

test('log: restore replaces the log with a pending snapshot', () => {
  const log = logWith([ent(1, 1)]);
  log.restore({
    metadata: { index: index(10), term: term(4), confState: EMPTY_CONF_STATE },
    data: new Uint8Array(),
  });
  assert.equal(log.firstIndex(), 11);
  assert.equal(log.lastIndex(), 10);
  assert.equal(log.termAt(index(10)), 4);
  assert.equal(log.committed, 10);
  assert.equal(log.hasPendingSnapshot(), true);
  assert.deepEqual(log.nextCommittedEntries(Infinity), [], 'nothing to apply before the snapshot');
  assert.equal(log.entriesFrom(index(5), Infinity), undefined, 'compacted');
});
