// stateMachineSafety on hand-made replicas: the first replica to apply an index fixes its term;
// another that applies the same index with another term is caught, and one that agrees is not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupId } from '../../node/ids.ts';
import type { GroupView } from '../../node/intents.ts';
import { MemoryStorage } from '../../raft/index.ts';
import { type Entry, index, NO_NODE, term } from '../../raft/types.ts';
import { AppliedLog } from './applied-log.ts';

/** A replica of group 1 whose log holds entries of the given terms (index 1 first), applied up to `applied`. */
function replica(terms: readonly number[], applied: number): GroupView & { applied: number } {
  const storage = new MemoryStorage();
  const entries: Entry[] = terms.map((t, i) => ({
    term: term(t),
    index: index(i + 1),
    type: 'normal',
    data: new Uint8Array(),
  }));
  storage.append(entries);
  return {
    id: groupId(1),
    leader: NO_NODE,
    role: 'follower',
    term: term(terms[terms.length - 1] ?? 0),
    applied: index(applied),
    snapshotIndex: index(0),
    confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    storage,
    isLeader: () => false,
  };
}

test('replicas that apply the same entries agree, however far each has got', () => {
  const log = new AppliedLog();
  const a = replica([1, 1, 2, 2], 4);
  const b = replica([1, 1, 2, 2], 2);
  assert.equal(log.observe('a', a), undefined);
  assert.equal(log.observe('b', b), undefined);
  b.applied = index(4);
  assert.equal(log.observe('b', b), undefined);
});

test('a replica that applies another entry at an index applied elsewhere is caught, when it applies it', () => {
  const log = new AppliedLog();
  assert.equal(log.observe('a', replica([1, 1, 2], 3)), undefined);
  // b holds an entry of term 3 at index 3 (the one of term 2 was overwritten), not applied yet: fine.
  const b = replica([1, 1, 3], 2);
  assert.equal(log.observe('b', b), undefined);
  b.applied = index(3);
  const v = log.observe('b', b);
  assert.equal(v?.property, 'stateMachineSafety');
  assert.match(
    v?.detail ?? '',
    /b applied index 3 of group 1 with term 3, where another replica applied an entry of term 2/,
  );
});
