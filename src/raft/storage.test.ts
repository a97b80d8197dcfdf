import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CompactedError,
  SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
} from './errors.ts';
import { EMPTY_CONF_STATE, initialSnapshot, MemoryStorage } from './storage.ts';
import type { Entry } from './types.ts';
import { index, nodeId, term } from './types.ts';

const ent = (i: number, t: number, size = 0): Entry => ({
  index: index(i),
  term: term(t),
  type: 'normal',
  data: new Uint8Array(size),
});

function storageWith(entries: Entry[]): MemoryStorage {
  const s = new MemoryStorage();
  s.append(entries);
  return s;
}

test('MemoryStorage: empty storage starts at index 1 with a dummy term 0', () => {
  const s = new MemoryStorage();
  assert.equal(s.firstIndex(), 1);
  assert.equal(s.lastIndex(), 0);
  assert.equal(s.term(index(0)), 0);
  assert.throws(() => s.term(index(1)), UnavailableError);
});

test('MemoryStorage: append truncates a conflicting suffix and refuses gaps', () => {
  const s = storageWith([ent(1, 1), ent(2, 1), ent(3, 1)]);
  s.append([ent(2, 2), ent(3, 2), ent(4, 2)]);
  assert.deepEqual(
    s.entries(index(1), index(5), Infinity).map((e) => `${e.index}/${e.term}`),
    ['1/1', '2/2', '3/2', '4/2'],
  );
  assert.throws(() => s.append([ent(7, 2)]), /missing log entries/);
});

test('MemoryStorage: entries are size-limited but never empty', () => {
  const s = storageWith([ent(1, 1, 100), ent(2, 1, 100), ent(3, 1, 100)]);
  assert.equal(s.entries(index(1), index(4), 1).length, 1);
  assert.equal(s.entries(index(1), index(4), 250).length, 2);
  assert.equal(s.entries(index(1), index(4), Infinity).length, 3);
});

test('MemoryStorage: snapshot then compact; compacted reads throw CompactedError', () => {
  const s = storageWith([ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2)]);
  const cs = { ...EMPTY_CONF_STATE, voters: [nodeId('a')] };
  s.createSnapshot(index(3), cs, new Uint8Array([7]));
  assert.throws(() => s.compact(index(4)), /beyond the snapshot/);
  s.compact(index(3));
  assert.equal(s.firstIndex(), 4);
  assert.equal(s.term(index(3)), 2, 'the compaction point keeps its term');
  assert.throws(() => s.term(index(2)), CompactedError);
  assert.throws(() => s.entries(index(3), index(5), Infinity), CompactedError);
  assert.equal(s.snapshot().metadata.index, 3);
  assert.throws(() => s.createSnapshot(index(2), cs, new Uint8Array()), SnapshotOutOfDateError);
});

test('MemoryStorage: applySnapshot replaces everything; older snapshots are refused', () => {
  const s = storageWith([ent(1, 1), ent(2, 1)]);
  s.applySnapshot({
    metadata: { index: index(10), term: term(3), confState: EMPTY_CONF_STATE },
    data: new Uint8Array(),
  });
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.lastIndex(), 10);
  assert.equal(s.term(index(10)), 3);
  assert.throws(() => s.applySnapshot(initialSnapshot([nodeId('a')])), SnapshotOutOfDateError);
});

test('MemoryStorage: released snapshot bytes are asked for, and only the latest snapshot takes them back', () => {
  const s = storageWith([ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2)]);
  const cs = { ...EMPTY_CONF_STATE, voters: [nodeId('a')] };
  const wanted: number[] = [];
  s.onSnapshotWanted = (i) => wanted.push(i);
  s.createSnapshot(index(3), cs, new Uint8Array([7, 8]));
  assert.equal(s.releaseSnapshotData(index(2)), false, 'not the latest snapshot');
  assert.equal(s.releaseSnapshotData(index(3)), true);
  assert.equal(s.releaseSnapshotData(index(3)), false, 'already released');
  assert.equal(s.snapshotDataHeld(), false);
  assert.throws(() => s.snapshot(), SnapshotTemporarilyUnavailableError);
  assert.deepEqual(wanted, [3]);
  assert.deepEqual(s.snapshotMetadata(), { index: 3, term: 2, confState: cs });
  assert.equal(s.initialState().confState, cs, 'the metadata stays');
  assert.equal(s.reloadSnapshotData(index(2), new Uint8Array([1])), false, 'bytes of another snapshot');
  assert.equal(s.reloadSnapshotData(index(3), new Uint8Array([7, 8])), true);
  assert.equal(s.reloadSnapshotData(index(3), new Uint8Array([9])), false, 'already held');
  assert.deepEqual(s.snapshot().data, new Uint8Array([7, 8]));
  // A newer snapshot brings its own bytes, whatever became of the older one's.
  s.releaseSnapshotData(index(3));
  s.createSnapshot(index(4), cs, new Uint8Array([5]));
  assert.deepEqual(s.snapshot().data, new Uint8Array([5]));
  s.releaseSnapshotData(index(4));
  s.applySnapshot({ metadata: { index: index(9), term: term(3), confState: cs }, data: new Uint8Array([6]) });
  assert.deepEqual(s.snapshot().data, new Uint8Array([6]));
  assert.deepEqual(wanted, [3], 'asked for only while released');
});

test('MemoryStorage: the hard state term never goes back', () => {
  const s = new MemoryStorage();
  s.setHardState({ term: term(3), vote: nodeId('a'), commit: index(0) });
  assert.throws(() => s.setHardState({ term: term(2), vote: nodeId('a'), commit: index(0) }), /regressed/);
});
