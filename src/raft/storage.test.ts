import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CompactedError,
  EntriesTemporarilyUnavailableError,
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

const ids = (es: readonly Entry[]): string[] => es.map((e) => `${e.index}/${e.term}`);

test('MemoryStorage: released entries keep their terms, are asked for, and are served once read back', () => {
  // Terms 1,1,2,2,2,3,3,4 at indexes 1..8.
  const all = [ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2), ent(5, 2), ent(6, 3), ent(7, 3), ent(8, 4)];
  const s = storageWith(all);
  const wanted: [number, number, number][] = [];
  s.onEntriesWanted = (lo, hi, maxBytes) => wanted.push([lo, hi, maxBytes]);
  s.releaseEntryData(index(3));
  s.releaseEntryData(index(2)); // behind what is released: nothing changes
  s.releaseEntryData(index(6));
  assert.equal(s.releasedThrough(), 6);
  assert.equal(s.firstIndex(), 1, 'released is not compacted');
  assert.equal(s.lastIndex(), 8);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => s.term(index(i))),
    [0, 1, 1, 2, 2, 2, 3, 3, 4],
  );
  assert.deepEqual(ids(s.entries(index(7), index(9), Infinity)), ['7/3', '8/4'], 'held whole');
  assert.throws(() => s.entries(index(2), index(9), 100), EntriesTemporarilyUnavailableError);
  assert.deepEqual(wanted, [[2, 9, 100]]);
  assert.throws(() => s.releaseEntryData(index(9)), /beyond the last index/);
  // Read back: served from the window, which stops at R (a short answer the caller continues).
  assert.equal(s.reloadEntries(all.slice(1, 5)), true); // 2..5
  assert.deepEqual(ids(s.entries(index(3), index(9), Infinity)), ['3/2', '4/2', '5/2']);
  assert.deepEqual(ids(s.entries(index(3), index(9), 0)), ['3/2'], 'size limited: still one');
  assert.throws(
    () => s.entries(index(6), index(9), Infinity),
    EntriesTemporarilyUnavailableError,
    'not in the window',
  );
  assert.throws(() => s.entries(index(1), index(2), Infinity), EntriesTemporarilyUnavailableError);
  assert.equal(wanted.length, 3);
  assert.equal(s.reloadEntries(all.slice(6)), false, 'entries held whole are not taken');
  // The window takes only the released part of what it is given.
  assert.equal(s.reloadEntries(all.slice(4)), true); // 5..8, keeps 5..6
  assert.deepEqual(ids(s.entries(index(5), index(9), Infinity)), ['5/2', '6/3']);
  s.dropReloadedEntries();
  assert.throws(() => s.entries(index(5), index(6), Infinity), EntriesTemporarilyUnavailableError);
  // New entries go after the whole part; overwriting a released (applied) entry is a bug.
  s.append([ent(8, 5), ent(9, 5)]);
  assert.deepEqual(ids(s.entries(index(7), index(10), Infinity)), ['7/3', '8/5', '9/5']);
  assert.throws(() => s.append([ent(6, 5)]), /overwrite released/);
});

test('MemoryStorage: released entries a snapshot covers are compacted, whichever comes first', () => {
  const all = [ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2), ent(5, 3), ent(6, 3), ent(7, 3), ent(8, 3)];
  const cs = { ...EMPTY_CONF_STATE, voters: [nodeId('a')] };
  const s = storageWith(all);
  s.releaseEntryData(index(5));
  s.reloadEntries(all.slice(0, 5));
  s.createSnapshot(index(4), cs); // released up to 5, the snapshot covers 4: compacted to 4 at once
  assert.equal(s.firstIndex(), 5);
  assert.throws(() => s.compact(index(2)), CompactedError);
  assert.equal(s.term(index(4)), 2);
  assert.equal(s.term(index(5)), 3);
  assert.throws(() => s.term(index(3)), CompactedError);
  assert.deepEqual(
    ids(s.entries(index(5), index(9), Infinity)),
    ['5/3'],
    'the window keeps what is not compacted',
  );
  // Past the released part: the whole part is cut, and the runs with it.
  s.createSnapshot(index(7), cs);
  s.compact(index(6));
  assert.equal(s.firstIndex(), 7);
  assert.equal(s.releasedThrough(), 6);
  assert.equal(s.term(index(6)), 3);
  assert.deepEqual(ids(s.entries(index(7), index(9), Infinity)), ['7/3', '8/3']);
  s.releaseEntryData(index(8)); // the snapshot at 7 covers 7: compacted at once; 8 is released
  assert.equal(s.firstIndex(), 8);
  assert.equal(s.term(index(8)), 3);
  assert.throws(() => s.entries(index(8), index(9), Infinity), EntriesTemporarilyUnavailableError);
  s.applySnapshot({ metadata: { index: index(20), term: term(4), confState: cs }, data: new Uint8Array() });
  assert.equal(s.releasedThrough(), 20);
  assert.equal(s.firstIndex(), 21);
  s.append([ent(21, 4)]);
  assert.deepEqual(ids(s.entries(index(21), index(22), Infinity)), ['21/4']);
});

test('MemoryStorage: the hard state term never goes back', () => {
  const s = new MemoryStorage();
  s.setHardState({ term: term(3), vote: nodeId('a'), commit: index(0) });
  assert.throws(() => s.setHardState({ term: term(2), vote: nodeId('a'), commit: index(0) }), /regressed/);
});
