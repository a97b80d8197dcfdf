import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Snapshot } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import type { FileHandle, FileSystem } from './file-system.ts';
import { REAL_FILE_SYSTEM } from './real-file-system.ts';
import type { SnapshotSource } from './snapshot-source.ts';
import {
  SNAPSHOT_SYNC_EVERY_BYTES,
  SnapshotCorruptionError,
  SnapshotMissingError,
  SnapshotStore,
  snapshotFileName,
} from './snapshots.ts';
import { withTempDir } from './test-helpers.ts';

function snap(i: number, t: number, fill: number, bytes = 1000): Snapshot {
  return {
    metadata: {
      index: index(i),
      term: term(t),
      confState: {
        voters: [nodeId('a'), nodeId('b'), nodeId('ç')],
        votersOutgoing: [],
        learners: [nodeId('d')],
        learnersNext: [],
        autoLeave: i % 2 === 0,
      },
    },
    data: Buffer.alloc(bytes, fill),
  };
}

function plain(s: Snapshot | undefined): unknown {
  if (s === undefined) return undefined;
  return {
    metadata: { ...s.metadata, confState: { ...s.metadata.confState } },
    data: Buffer.from(s.data).toString('hex'),
  };
}

test('snapshots round-trip; files go only when released below a durable index; a reopened store finds them', async () => {
  await withTempDir(async (dir) => {
    const store = await SnapshotStore.open(dir, REAL_FILE_SYSTEM);
    assert.equal(await store.loadLatest(1), undefined);
    await store.save(1, snap(10, 1, 1));
    await store.save(2, snap(5, 1, 2));
    await store.save(1, snap(20, 2, 3));
    await store.save(1, snap(30, 2, 4, 0));
    // Saving never deletes: until the marker of 30 is durable, the log may still name 10 or 20.
    assert.deepEqual(store.indexes(1), [10, 20, 30]);
    await store.release(1, 20);
    assert.deepEqual(store.indexes(1), [20, 30]);
    const reopened = await SnapshotStore.open(dir, REAL_FILE_SYSTEM);
    assert.deepEqual(reopened.indexes(1), [20, 30]);
    assert.deepEqual(reopened.groups(), [1, 2]);
    assert.deepEqual(plain(await reopened.loadLatest(1)), plain(snap(30, 2, 4, 0)));
    assert.deepEqual(plain(await reopened.load(1, 20)), plain(snap(20, 2, 3)));
    assert.deepEqual(plain(await reopened.loadLatest(2)), plain(snap(5, 1, 2)));
    await assert.rejects(reopened.load(1, 10), SnapshotMissingError);
    const files = (await readdir(dir)).sort();
    assert.deepEqual(files, [snapshotFileName(1, 20), snapshotFileName(1, 30), snapshotFileName(2, 5)]);
    await assert.rejects(reopened.save(1, snap(25, 2, 0)), /older than kept/);
  });
});

test('a snapshot saved from a source a slice at a time, each slice overwriting the last, loads whole; a source short of its size leaves nothing', async () => {
  await withTempDir(async (dir) => {
    const store = await SnapshotStore.open(dir, REAL_FILE_SYSTEM);
    const want = snap(40, 3, 0, 10);
    want.data.forEach((_, i) => {
      want.data[i] = i;
    });
    const reused = Buffer.alloc(4);
    const sliced = (announced: number): SnapshotSource => {
      let at = 0;
      return {
        totalBytes: announced,
        next: async () => {
          if (at >= want.data.length) return undefined;
          const n = Math.min(reused.length, want.data.length - at);
          reused.set(want.data.subarray(at, at + n));
          at += n;
          return reused.subarray(0, n);
        },
        close: () => {},
      };
    };
    let pauses = 0;
    await store.saveFrom(1, want.metadata, sliced(10), async () => {
      pauses++;
    });
    assert.equal(pauses, 3, 'a pause after each of the 3 slices');
    assert.deepEqual(plain(await store.load(1, 40)), plain(want));
    await assert.rejects(
      store.saveFrom(1, { ...want.metadata, index: index(50) }, sliced(11)),
      /10 bytes, announced 11/,
    );
    assert.deepEqual(store.indexes(1), [40]);
    assert.deepEqual(
      await readdir(dir),
      [snapshotFileName(1, 40)],
      'no file, temporary or not, of the failed save',
    );
  });
});

test('a large snapshot file is synced as it is written, every few MB, not only once at the end', async () => {
  await withTempDir(async (dir) => {
    // Bytes written to the file since its last fdatasync, at each fdatasync.
    const unsyncedAtSync: number[] = [];
    let unsynced = 0;
    const counting = (fh: FileHandle): FileHandle => ({
      writev: async (views, at) => {
        const n = await fh.writev(views, at);
        unsynced += n;
        return n;
      },
      write: async (data, at) => {
        const n = await fh.write(data, at);
        unsynced += n;
        return n;
      },
      datasync: async () => {
        await fh.datasync();
        unsyncedAtSync.push(unsynced);
        unsynced = 0;
      },
      sync: () => fh.sync(),
      close: () => fh.close(),
    });
    const fs: FileSystem = {
      ...REAL_FILE_SYSTEM,
      open: async (path, mode) => counting(await REAL_FILE_SYSTEM.open(path, mode)),
    };
    const store = await SnapshotStore.open(dir, fs);
    const want = snap(7, 1, 0, 10 * 1024 * 1024);
    // Slices of 1 MiB, as a state machine's source gives them; then the whole as one slice, as a
    // snapshot received from a leader is saved.
    for (const sliceBytes of [1024 * 1024, want.data.byteLength]) {
      unsyncedAtSync.length = 0;
      let at = 0;
      const source: SnapshotSource = {
        totalBytes: want.data.byteLength,
        next: async () => {
          if (at >= want.data.byteLength) return undefined;
          at += sliceBytes;
          return want.data.subarray(at - sliceBytes, at);
        },
        close: () => {},
      };
      await store.saveFrom(sliceBytes, want.metadata, source);
      const total = unsyncedAtSync.reduce((a, b) => a + b, 0);
      assert.ok(total > want.data.byteLength, 'every byte written was synced');
      assert.ok(unsyncedAtSync.length >= 3, `${unsyncedAtSync.length} syncs: [${unsyncedAtSync}]`);
      // The last sync also covers the file's 4-byte checksum.
      for (const n of unsyncedAtSync)
        assert.ok(n <= SNAPSHOT_SYNC_EVERY_BYTES + 4, `${n} bytes written between two syncs`);
      assert.deepEqual(plain(await store.load(sliceBytes, 7)), plain(want));
    }
  });
});

test('release keeps the durable file and what is newer; it refuses an index it does not hold', async () => {
  await withTempDir(async (dir) => {
    const store = await SnapshotStore.open(dir, REAL_FILE_SYSTEM);
    for (const i of [10, 20, 30, 40]) await store.save(3, snap(i, 1, i));
    await store.release(3, 30);
    assert.deepEqual(store.indexes(3), [30, 40], 'the file the durable marker names (30) and newer stay');
    await assert.rejects(store.release(3, 35), /releasing below 35 of group 3/);
    assert.deepEqual((await readdir(dir)).sort(), [snapshotFileName(3, 30), snapshotFileName(3, 40)]);
  });
});

test('discardNewerThan drops files above the durable marker (a crash came before their marker)', async () => {
  await withTempDir(async (dir) => {
    const store = await SnapshotStore.open(dir, REAL_FILE_SYSTEM);
    for (const i of [10, 20, 30]) await store.save(4, snap(i, 1, i));
    const reopened = await SnapshotStore.open(dir, REAL_FILE_SYSTEM);
    await reopened.discardNewerThan(4, 10);
    assert.deepEqual(reopened.indexes(4), [10]);
    assert.deepEqual(await readdir(dir), [snapshotFileName(4, 10)]);
    await reopened.save(4, snap(15, 1, 15)); // below the discarded 20 and 30: allowed now
    assert.deepEqual(reopened.indexes(4), [10, 15]);
  });
});

test('a corrupt newest snapshot falls back to the previous one; with none valid it is an error naming the file', async () => {
  await withTempDir(async (dir) => {
    const store = await SnapshotStore.open(dir, REAL_FILE_SYSTEM);
    await store.save(7, snap(10, 1, 1));
    await store.save(7, snap(20, 1, 2));
    const newest = join(dir, snapshotFileName(7, 20));
    const bytes = await readFile(newest);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x10;
    await writeFile(newest, bytes);
    assert.deepEqual(plain(await store.loadLatest(7)), plain(snap(10, 1, 1)));
    await assert.rejects(store.load(7, 20), SnapshotCorruptionError);

    const older = join(dir, snapshotFileName(7, 10));
    await writeFile(older, (await readFile(older)).subarray(0, 30));
    await assert.rejects(store.loadLatest(7), (e: unknown) => {
      assert.ok(e instanceof SnapshotCorruptionError);
      assert.equal(e.code, 'SNAPSHOT_CORRUPT');
      assert.equal(e.file, newest);
      assert.match(e.message, /re-add the node/);
      return true;
    });
  });
});

test('a temporary file left by a crash is removed on open and never loaded', async () => {
  await withTempDir(async (dir) => {
    const store = await SnapshotStore.open(dir, REAL_FILE_SYSTEM);
    await store.save(3, snap(10, 1, 1));
    await writeFile(join(dir, `${snapshotFileName(3, 99)}.tmp`), Buffer.alloc(50, 9));
    const reopened = await SnapshotStore.open(dir, REAL_FILE_SYSTEM);
    assert.deepEqual(reopened.indexes(3), [10]);
    assert.deepEqual(await readdir(dir), [snapshotFileName(3, 10)]);
    await reopened.removeGroup(3);
    assert.deepEqual(await readdir(dir), []);
  });
});
