import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EMPTY_CONF_STATE, MemoryStorage, SnapshotTemporarilyUnavailableError } from '../raft/index.ts';
import { index, term } from '../raft/types.ts';
import { ManualClock } from './manual-clock.ts';
import { SNAPSHOT_HOLD_MS, SnapshotReloader } from './snapshot-reload.ts';

const BYTES = new Uint8Array([1, 2, 3]);

function storageAt(at: number): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({
    metadata: { index: index(at), term: term(1), confState: EMPTY_CONF_STATE },
    data: BYTES,
  });
  return s;
}

/** A reloader over files of group 1 at `filed`, whose reads are answered by hand. */
function setup(filed: number[]) {
  const clock = new ManualClock();
  const reads: { at: number; resolve: (b: Uint8Array) => void; reject: (e: Error) => void }[] = [];
  const failed: number[] = [];
  const r = new SnapshotReloader({
    load: (_group, at) => new Promise((resolve, reject) => reads.push({ at, resolve, reject })),
    filed: (group, at) => group === 1 && filed.includes(at),
    clock,
    onLoadFailed: (_group, at) => failed.push(at),
  });
  return { clock, reads, failed, r };
}

describe('snapshot bytes kept in their file and read back', () => {
  it('lets a filed snapshot go at once, and keeps one that has no file', () => {
    const { r } = setup([5]);
    const filed = storageAt(5);
    r.attach(1, filed);
    assert.equal(filed.snapshotDataHeld(), false);
    const unfiled = storageAt(6);
    r.attach(2, unfiled);
    assert.equal(unfiled.snapshotDataHeld(), true, 'no file: the bytes are the only copy');
  });

  it('reads back once however often asked, holds the bytes, then lets them go again', async () => {
    const { clock, reads, r } = setup([5]);
    const s = storageAt(5);
    r.attach(1, s);
    assert.throws(() => s.snapshot(), SnapshotTemporarilyUnavailableError);
    assert.throws(() => s.snapshot(), SnapshotTemporarilyUnavailableError);
    assert.deepEqual(
      reads.map((x) => x.at),
      [5],
      'one read for two asks',
    );
    reads[0]!.resolve(BYTES);
    await r.settled(1);
    assert.deepEqual(s.snapshot().data, BYTES);
    clock.advance(SNAPSHOT_HOLD_MS - 1);
    assert.equal(s.snapshotDataHeld(), true);
    clock.advance(1);
    assert.equal(s.snapshotDataHeld(), false, `let go ${SNAPSHOT_HOLD_MS} ms later`);
    assert.throws(() => s.snapshot(), SnapshotTemporarilyUnavailableError);
    assert.equal(reads.length, 2, 'asked again: read again');
  });

  it('a failed read is reported, and the next ask reads again', async () => {
    const { reads, failed, r } = setup([5]);
    const s = storageAt(5);
    r.attach(1, s);
    assert.throws(() => s.snapshot());
    reads[0]!.reject(new Error('gone'));
    await r.settled(1);
    assert.deepEqual(failed, [5]);
    assert.equal(s.snapshotDataHeld(), false);
    assert.throws(() => s.snapshot());
    assert.equal(reads.length, 2);
  });

  it('bytes read back for a snapshot since replaced are dropped, and a detached group is left alone', async () => {
    const { clock, reads, r } = setup([5, 9]);
    const s = storageAt(5);
    r.attach(1, s);
    assert.throws(() => s.snapshot());
    s.applySnapshot({
      metadata: { index: index(9), term: term(2), confState: EMPTY_CONF_STATE },
      data: new Uint8Array([9]),
    });
    reads[0]!.resolve(BYTES);
    await r.settled(1);
    assert.deepEqual(s.snapshot().data, new Uint8Array([9]), 'the newer snapshot keeps its own bytes');
    r.release(1);
    assert.equal(s.snapshotDataHeld(), false);
    assert.throws(() => s.snapshot());
    r.detach(1);
    reads[1]!.resolve(new Uint8Array([9]));
    await new Promise((done) => setImmediate(done));
    assert.equal(s.snapshotDataHeld(), false, 'not handed to a group no longer served');
    assert.equal(s.onSnapshotWanted, undefined);
    assert.equal(clock.pendingTimers, 0);
  });
});
