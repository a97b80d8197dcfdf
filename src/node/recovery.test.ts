// Recovery reads the snapshot files one group ahead: the next group's read is under way while this
// group's state is rebuilt, never more than that, and a failed read is reported when its group is
// recovered (not as an unhandled rejection before).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Snapshot } from '../raft/types.ts';
import { index, term } from '../raft/types.ts';
import type { RecoveredGroup } from '../storage/wal.ts';
import { SnapshotPrefetch } from './recovery.ts';

/** A group whose WAL marker names the snapshot at `at` (0: none). */
function recovered(at: number): RecoveredGroup {
  return {
    hardState: undefined,
    snapshot: at === 0 ? undefined : { index: index(at), term: term(1) },
    entries: [],
  };
}

function snapshotOf(group: number, at: number): Snapshot {
  return {
    metadata: { index: index(at), term: term(1), confState: { voters: [], learners: [] } },
    data: Uint8Array.of(group),
  } as unknown as Snapshot;
}

/** A store whose loads stay pending until settled by hand, recording what was asked when. */
function manualStore() {
  const asked: string[] = [];
  const pending = new Map<string, { resolve: (s: Snapshot) => void; reject: (e: Error) => void }>();
  return {
    asked,
    load(group: number, at: number): Promise<Snapshot> {
      const key = `${group}@${at}`;
      asked.push(key);
      return new Promise((resolve, reject) => pending.set(key, { resolve, reject }));
    },
    settle(key: string, how: Snapshot | Error): void {
      const p = pending.get(key);
      assert.ok(p !== undefined, `no load of ${key} pending (asked: ${asked.join(', ')})`);
      if (how instanceof Error) p.reject(how);
      else p.resolve(how);
    },
  };
}

test('each group gets its own snapshot; the next one is read while this one is taken, no further', async () => {
  const store = manualStore();
  const order = [0, 1, 2, 3];
  const rec = new Map([
    [0, recovered(5)],
    [1, recovered(0)],
    [2, recovered(7)],
    [3, recovered(9)],
  ]);
  const prefetch = new SnapshotPrefetch(store, order, rec);

  const first = prefetch.take(0);
  assert.deepEqual(store.asked, ['0@5'], 'group 1 has no snapshot: nothing to read ahead');
  store.settle('0@5', snapshotOf(0, 5));
  assert.deepEqual((await first)?.data, Uint8Array.of(0));

  assert.equal(prefetch.take(1), undefined, 'no marker, no snapshot');
  assert.deepEqual(store.asked, ['0@5', '2@7'], "group 2's file is read while group 1 recovers");

  const third = prefetch.take(2);
  assert.deepEqual(store.asked, ['0@5', '2@7', '3@9'], 'taken once, not read again; only one ahead');
  store.settle('2@7', snapshotOf(2, 7));
  assert.deepEqual((await third)?.metadata.index, 7);

  const fourth = prefetch.take(3);
  assert.deepEqual(store.asked, ['0@5', '2@7', '3@9'], 'nothing after the last group');
  store.settle('3@9', snapshotOf(3, 9));
  assert.deepEqual((await fourth)?.data, Uint8Array.of(3));
});

test('a failed read ahead is reported when its group is taken, not as an unhandled rejection', async () => {
  const store = manualStore();
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const prefetch = new SnapshotPrefetch(
      store,
      [4, 6],
      new Map([
        [4, recovered(3)],
        [6, recovered(8)],
      ]),
    );
    const first = prefetch.take(0);
    store.settle('6@8', new Error('snapshot 6@8 is corrupt'));
    store.settle('4@3', snapshotOf(4, 3));
    await first;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled, []);
    await assert.rejects(prefetch.take(1) as Promise<Snapshot>, /6@8 is corrupt/);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
