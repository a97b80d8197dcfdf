import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { readdir, readFile, readlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Entry, HardState } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import {
  createsFile,
  type FileHandle,
  type FileSystem,
  type OpenMode,
  writesDurably,
} from './file-system.ts';
import { PassThroughFileSystem } from './pass-through-file-system.ts';
import { REAL_FILE_SYSTEM } from './real-file-system.ts';
import { hookedFileSystem, makeEntries, plainEntries, withTempDir } from './test-helpers.ts';
import { type RecoveredGroup, segmentFileName, Wal } from './wal.ts';
import { WalCorruptionError, WalFailedError } from './wal-errors.ts';

const SMALL_SEGMENT_BYTES = 16 * 1024;
/** The disk: every test here runs on it (wal-sim.test.ts runs the log on the simulated one). */
const fs: FileSystem = REAL_FILE_SYSTEM;

function hs(t: number, commit: number, vote = 'n1'): HardState {
  return { term: term(t), vote: nodeId(vote), commit: index(commit) };
}

interface GroupLike {
  readonly hardState: HardState | undefined;
  readonly snapshot: { readonly index: number; readonly term: number } | undefined;
  readonly entries: readonly Entry[];
}

function plainGroup(g: GroupLike | undefined): unknown {
  if (g === undefined) return undefined;
  return {
    hardState: g.hardState === undefined ? undefined : { ...g.hardState },
    snapshot: g.snapshot === undefined ? undefined : { ...g.snapshot },
    entries: plainEntries(g.entries),
  };
}

test('an empty log opens, and appended records of several groups recover after close', async () => {
  await withTempDir(async (dir) => {
    const first = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    assert.equal(first.recovered.size, 0);
    first.wal.appendEntries(1, makeEntries(1, 3, 1));
    first.wal.appendHardState(1, hs(1, 2));
    first.wal.appendEntries(2, makeEntries(1, 2, 5));
    first.wal.appendEntries(1, makeEntries(3, 2, 2)); // overwrites index 3 with a later term
    await first.wal.sync();
    await first.wal.close();
    const { wal, recovered } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    assert.deepEqual(plainGroup(recovered.get(1)), {
      hardState: { ...hs(1, 2) },
      snapshot: undefined,
      entries: plainEntries([...makeEntries(1, 2, 1), ...makeEntries(3, 2, 2)]),
    });
    assert.deepEqual(plainEntries(recovered.get(2)?.entries ?? []), plainEntries(makeEntries(1, 2, 5)));
    await wal.close();
  });
});

/** Writes two synced batches (the second one a single record) and returns the file and the last record's span. */
async function writeTwoBatches(dir: string): Promise<{ file: string; start: number; end: number }> {
  const { wal } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
  wal.appendEntries(1, makeEntries(1, 4, 1));
  wal.appendHardState(1, hs(1, 4));
  await wal.sync();
  const start = wal.writePosition().offsetBytes;
  wal.appendEntries(1, makeEntries(5, 2, 1, 20));
  const end = wal.writePosition().offsetBytes;
  await wal.close();
  return { file: join(dir, segmentFileName(1)), start, end };
}

async function expectFirstBatchThenAppend(dir: string, label: string): Promise<void> {
  const { wal, recovered } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
  assert.deepEqual(plainEntries(recovered.get(1)?.entries ?? []), plainEntries(makeEntries(1, 4, 1)), label);
  wal.appendEntries(1, makeEntries(5, 1, 3));
  await wal.close();
  const again = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
  const got = plainEntries(again.recovered.get(1)?.entries ?? []);
  assert.deepEqual(got, plainEntries([...makeEntries(1, 4, 1), ...makeEntries(5, 1, 3)]), label);
  await again.wal.close();
}

test('a torn final record (file cut or zero-filled at every byte inside it) is cut off, and appending continues', async () => {
  await withTempDir(async (dir) => {
    const { file, start, end } = await writeTwoBatches(dir);
    const original = await readFile(file);
    const reset = async (content: Buffer): Promise<void> => {
      // A reopen may have rolled over into a new segment: go back to the single original one.
      for (const name of await readdir(dir)) if (name !== segmentFileName(1)) await unlink(join(dir, name));
      await writeFile(file, content);
    };
    for (let cut = start; cut < end; cut++) {
      await reset(original);
      await truncate(file, cut);
      await expectFirstBatchThenAppend(dir, `truncated at ${cut}`);
      const zeroed = Buffer.from(original);
      zeroed.fill(0, cut, end);
      await reset(zeroed);
      await expectFirstBatchThenAppend(dir, `zero-filled from ${cut}`);
    }
  });
});

test('a flipped byte in the last record only is a torn tail; its garbage is zeroed before appending', async () => {
  await withTempDir(async (dir) => {
    const { file, start, end } = await writeTwoBatches(dir);
    const original = await readFile(file);
    for (const at of [start, start + 4, start + 9, Math.floor((start + end) / 2), end - 1]) {
      const damaged = Buffer.from(original);
      damaged[at] = damaged[at]! ^ 0x5a;
      await writeFile(file, damaged);
      await expectFirstBatchThenAppend(dir, `flip at ${at}`);
    }
  });
});

test('a flipped byte in the middle of the log is corruption naming the file and the offset', async () => {
  await withTempDir(async (dir) => {
    const { file } = await writeTwoBatches(dir);
    const original = await readFile(file);
    const damaged = Buffer.from(original);
    const recordStart = 27; // first record after the 27-byte segment header
    damaged[recordStart + 20] = damaged[recordStart + 20]! ^ 0xff;
    await writeFile(file, damaged);
    await assert.rejects(Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES }), (e: unknown) => {
      assert.ok(e instanceof WalCorruptionError);
      assert.equal(e.code, 'WAL_CORRUPT');
      assert.equal(e.file, file);
      assert.equal(e.offsetBytes, recordStart);
      assert.match(e.message, new RegExp(`${segmentFileName(1)} at byte offset ${recordStart}`));
      assert.match(e.message, /re-add the node/);
      return true;
    });
    // The file was left alone: nothing acknowledged is thrown away on a corruption error.
    assert.deepEqual(await readFile(file), damaged);
  });
});

test('segments roll over, old ones are released once every group has a durable marker past them', async () => {
  await withTempDir(async (dir) => {
    const { wal } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    let last = 0;
    for (let batch = 0; batch < 30; batch++) {
      wal.appendEntries(1, makeEntries(last + 1, 10, 1, 100));
      wal.appendEntries(2, makeEntries(last + 1, 10, 1, 100));
      last += 10;
      wal.appendHardState(1, hs(1, last));
      await wal.sync();
    }
    assert.ok(wal.segmentSeqs().length >= 4, `expected rollovers, got ${wal.segmentSeqs()}`);
    // Group 1 compacts everything; group 2 does not: group 2 pins the oldest segment.
    wal.appendSnapshotMarker(1, index(last), term(1), false);
    await wal.sync();
    assert.equal(wal.segmentSeqs()[0], 1);
    assert.deepEqual(
      wal.pinningGroups().map((p) => p.group),
      [2],
    );
    wal.appendSnapshotMarker(2, index(last - 5), term(1), false);
    await wal.sync();
    const kept = wal.segmentSeqs();
    assert.equal(
      kept.length,
      1,
      `only the segment holding group 2's entries after ${last - 5} remains: ${kept}`,
    );
    assert.equal(wal.stats().segmentsReleased, kept[0]! - 1);
    const files = (await readdir(dir)).filter((n) => n.endsWith('.wal'));
    assert.deepEqual(files, [segmentFileName(kept[0]!)]);
    await wal.close();
    const { wal: reopened, recovered } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    assert.deepEqual(recovered.get(1)?.hardState, hs(1, last));
    assert.deepEqual(recovered.get(1)?.snapshot, { index: last, term: 1 });
    assert.deepEqual(recovered.get(1)?.entries, []);
    assert.deepEqual(
      plainEntries(recovered.get(2)?.entries ?? []),
      plainEntries(makeEntries(last - 4, 5, 1, 100)),
    );
    await reopened.close();
  });
});

test('a damaged record in a segment that is not the last is corruption, as is a missing segment', async () => {
  await withTempDir(async (dir) => {
    const { wal } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    for (let i = 0; i < 3; i++) {
      wal.appendEntries(1, makeEntries(i * 100 + 1, 100, 1, 100));
      await wal.sync();
    }
    assert.ok(wal.segmentSeqs().length >= 3);
    await wal.close();
    const second = join(dir, segmentFileName(2));
    const original = await readFile(second);
    const damaged = Buffer.from(original);
    // The last record of a full segment: damage there would pass as a torn tail in the last segment.
    const lastData = original.findLastIndex((b) => b !== 0);
    damaged[lastData] = damaged[lastData]! ^ 1;
    await writeFile(second, damaged);
    await assert.rejects(Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES }), (e: unknown) => {
      assert.ok(e instanceof WalCorruptionError, String(e));
      assert.equal(e.file, second);
      assert.match(e.reason, /not the last/);
      return true;
    });
    await writeFile(second, original);
    await (await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES })).wal.close();
    await unlink(second);
    await assert.rejects(
      Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES }),
      /missing between two existing segments/,
    );
  });
});

/** Open flags (from /proc, Linux) of this process's descriptors on `path`. */
async function openFlags(path: string): Promise<number[]> {
  const out: number[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target !== path) continue;
    const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8');
    const m = /^flags:\s+([0-7]+)$/m.exec(info);
    if (m?.[1] !== undefined) out.push(Number.parseInt(m[1], 8));
  }
  return out;
}

test('the segment being appended to is opened O_DSYNC by default, plainly with fdatasync', async () => {
  for (const durability of [undefined, 'fdatasync'] as const) {
    await withTempDir(async (dir) => {
      const { wal } = await Wal.open({
        fs,
        dir,
        segmentBytes: SMALL_SEGMENT_BYTES,
        ...(durability && { durability }),
      });
      const flags = await openFlags(join(dir, segmentFileName(1)));
      assert.equal(flags.length, 1, `one descriptor on the active segment: ${flags}`);
      const dsync = (flags[0]! & constants.O_DSYNC) !== 0;
      assert.equal(dsync, durability === undefined, `durability ${durability ?? 'default'}`);
      await wal.close();
    });
  }
});

/**
 * The real disk, saying whether it has O_DSYNC as told, and counting the bytes written to each file
 * through a handle without O_DSYNC since that handle's last sync: the most any file held at once.
 */
class UnsyncedBytesFileSystem extends PassThroughFileSystem {
  maxUnsyncedBytes = 0;
  private readonly dsync: boolean;

  constructor(dsync: boolean) {
    super(REAL_FILE_SYSTEM);
    this.dsync = dsync;
  }

  override get supportsDsync(): boolean {
    return this.dsync;
  }

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const inner = await super.open(path, mode);
    const durable = writesDurably(mode) && this.dsync;
    let unsynced = 0;
    const wrote = (bytes: number): void => {
      if (durable) return;
      unsynced += bytes;
      this.maxUnsyncedBytes = Math.max(this.maxUnsyncedBytes, unsynced);
    };
    const synced = (): void => {
      unsynced = 0;
    };
    return {
      writev: async (views, at) => {
        const n = await inner.writev(views, at);
        wrote(n);
        return n;
      },
      write: async (data, at) => {
        const n = await inner.write(data, at);
        wrote(n);
        return n;
      },
      datasync: async () => {
        await inner.datasync();
        synced();
      },
      sync: async () => {
        await inner.sync();
        synced();
      },
      close: () => inner.close(),
    };
  }
}

test("a new segment's zeroes reach the disk as they are written: O_DSYNC, or an fdatasync every 4 MiB without it", async () => {
  const segmentBytes = 16 * 1024 * 1024;
  for (const dsync of [true, false]) {
    await withTempDir(async (dir) => {
      const counting = new UnsyncedBytesFileSystem(dsync);
      const { wal } = await Wal.open({ fs: counting, dir, segmentBytes });
      wal.appendEntries(1, makeEntries(1, 10, 1, 100));
      await wal.sync();
      await wal.close();
      // Without this, a segment's 16 MiB of zeroes waited in the page cache for one fdatasync.
      assert.ok(
        counting.maxUnsyncedBytes <= 4 * 1024 * 1024,
        `O_DSYNC ${dsync}: ${counting.maxUnsyncedBytes} bytes written and not yet synced at once`,
      );
      const { wal: reopened, recovered } = await Wal.open({ fs, dir, segmentBytes });
      assert.deepEqual(
        plainEntries(recovered.get(1)?.entries ?? []),
        plainEntries(makeEntries(1, 10, 1, 100)),
      );
      await reopened.close();
    });
  }
});

for (const durability of ['dsync', 'fdatasync'] as const) {
  test(`group commit (${durability}): sync() calls made during an in-flight sync share one barrier`, async () => {
    await withTempDir(async (dir) => {
      const { wal } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES, durability });
      const before = wal.stats();
      wal.appendEntries(1, makeEntries(1, 1, 1));
      const first = wal.sync(); // starts a round at once
      const followers: Promise<void>[] = [];
      for (let g = 2; g < 12; g++) {
        wal.appendEntries(g, makeEntries(1, 1, 1));
        followers.push(wal.sync());
      }
      await Promise.all([first, ...followers]);
      const after = wal.stats();
      assert.equal(after.barriers - before.barriers, 2, 'one for the first round, one for all ten followers');
      assert.equal(after.syncRounds - before.syncRounds, 2);
      assert.equal(after.writes - before.writes, 2);
      // A sync with nothing new to write costs no barrier.
      await wal.sync();
      assert.equal(wal.stats().barriers, after.barriers);
      await wal.close();
      const { wal: reopened, recovered } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
      assert.equal(recovered.size, 11);
      await reopened.close();
    });
  });

  test(`a failed durable write (${durability}) poisons the log: the sync rejects, later appends and syncs refuse`, async () => {
    await withTempDir(async (dir) => {
      let failNext = false;
      let calls = 0;
      // The barrier of each mode, on the segment records go to: the O_DSYNC write itself, or the
      // fdatasync after a plain write.
      const barrier = durability === 'dsync' ? 'write' : 'sync';
      const hooked = hookedFileSystem(fs, (call) => {
        if (createsFile(call.mode) || call.op !== barrier) return;
        calls++;
        if (failNext) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
      });
      const { wal } = await Wal.open({
        fs: hooked,
        dir,
        segmentBytes: SMALL_SEGMENT_BYTES,
        durability,
      });
      wal.appendEntries(1, makeEntries(1, 2, 1));
      await wal.sync();
      assert.equal(calls, 1, 'the shim sees the barrier');
      failNext = true;
      wal.appendEntries(1, makeEntries(3, 2, 1));
      const failed = wal.sync();
      const queued = wal.sync();
      await assert.rejects(
        failed,
        (e: unknown) => e instanceof WalFailedError && /EIO: injected/.test(e.message),
      );
      await assert.rejects(queued, WalFailedError);
      assert.throws(() => wal.appendEntries(1, makeEntries(5, 1, 1)), WalFailedError);
      await assert.rejects(wal.sync(), WalFailedError);
      await wal.close();
      const { wal: reopened, recovered } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
      assert.ok((recovered.get(1)?.entries.length ?? 0) >= 2, 'what was acknowledged survives');
      await reopened.close();
    });
  });
}

test('an installed snapshot marker discards the whole log, a compaction marker keeps the suffix', async () => {
  await withTempDir(async (dir) => {
    const { wal } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    wal.appendEntries(1, makeEntries(1, 10, 1));
    wal.appendSnapshotMarker(1, index(6), term(1), false);
    wal.appendEntries(2, makeEntries(1, 10, 1));
    wal.appendSnapshotMarker(2, index(6), term(3), true);
    wal.appendEntries(2, makeEntries(7, 2, 3));
    wal.appendEntries(3, makeEntries(1, 10, 1));
    wal.appendSnapshotMarker(3, index(6), term(3), true);
    await wal.close();
    const { wal: reopened, recovered } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    assert.deepEqual(plainEntries(recovered.get(1)?.entries ?? []), plainEntries(makeEntries(7, 4, 1)));
    assert.deepEqual(plainEntries(recovered.get(2)?.entries ?? []), plainEntries(makeEntries(7, 2, 3)));
    assert.deepEqual(recovered.get(2)?.snapshot, { index: 6, term: 3 });
    assert.deepEqual(recovered.get(3)?.entries, [], 'entries 7..10 went with the installed snapshot');
    assert.throws(() => reopened.appendSnapshotMarker(1, index(5), term(1), false), /moves back/);
    await reopened.close();
  });
});

// ---- many groups against a reference model ----------------------------------------------------------

interface ModelGroup {
  hardState: HardState | undefined;
  snapshot: { index: number; term: number } | undefined;
  entries: Entry[];
}

type Op =
  | { kind: 'append'; group: number; back: number; count: number; termBump: number; bytes: number }
  | { kind: 'hardState'; group: number; commit: number }
  | { kind: 'compact'; group: number; back: number }
  | { kind: 'install'; group: number; ahead: number }
  | { kind: 'sync' }
  | { kind: 'reopen' };

const groupArb = fc.integer({ min: 0, max: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      group: groupArb,
      back: fc.nat({ max: 4 }),
      count: fc.integer({ min: 1, max: 12 }),
      termBump: fc.nat({ max: 1 }),
      bytes: fc.nat({ max: 600 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('hardState' as const), group: groupArb, commit: fc.nat(50) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('compact' as const), group: groupArb, back: fc.nat(10) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('install' as const), group: groupArb, ahead: fc.nat(10) }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'sync' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

function modelLast(g: ModelGroup): number {
  return g.entries[g.entries.length - 1]?.index ?? g.snapshot?.index ?? 0;
}
function modelTerm(g: ModelGroup): number {
  return g.entries[g.entries.length - 1]?.term ?? g.snapshot?.term ?? 1;
}

/** Applies op to the model and the log alike. */
function applyOp(
  wal: Wal,
  model: Map<number, ModelGroup>,
  op: Exclude<Op, { kind: 'sync' | 'reopen' }>,
): void {
  let g = model.get(op.group);
  if (g === undefined) {
    g = { hardState: undefined, snapshot: undefined, entries: [] };
    model.set(op.group, g);
  }
  const last = modelLast(g);
  const floor = g.snapshot?.index ?? 0;
  if (op.kind === 'append') {
    const first = Math.max(floor + 1, last + 1 - op.back);
    const entries = makeEntries(first, op.count, modelTerm(g) + op.termBump, op.bytes);
    g.entries = [...g.entries.filter((e) => e.index < first), ...entries];
    wal.appendEntries(op.group, entries);
  } else if (op.kind === 'hardState') {
    g.hardState = hs(op.group + op.commit, op.commit, `n${op.commit}`);
    wal.appendHardState(op.group, g.hardState);
  } else if (op.kind === 'compact') {
    const at = Math.max(floor, last - op.back);
    const t = g.entries.find((e) => e.index === at)?.term ?? g.snapshot?.term ?? 0;
    g.snapshot = { index: at, term: t };
    g.entries = g.entries.filter((e) => e.index > at);
    wal.appendSnapshotMarker(op.group, index(at), term(t), false);
  } else {
    const at = floor + op.ahead;
    g.snapshot = { index: at, term: modelTerm(g) + 1 };
    g.entries = [];
    wal.appendSnapshotMarker(op.group, index(at), term(g.snapshot.term), true);
  }
}

test('many groups interleaved (truncations, markers, rollovers, releases, reopens) recover exactly', async () => {
  await withTempDir(async (root) => {
    let run = 0;
    const totals = { segmentsCreated: 0, segmentsReleased: 0, reopens: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 40, maxLength: 120 }), async (ops) => {
        const dir = join(root, `run-${run++}`);
        const model = new Map<number, ModelGroup>();
        let wal = (await Wal.open({ fs, dir, segmentBytes: 4096 })).wal;
        for (const op of ops) {
          if (op.kind === 'sync') await wal.sync();
          else if (op.kind === 'reopen') {
            await wal.close();
            totals.segmentsCreated += wal.stats().segmentsCreated;
            totals.segmentsReleased += wal.stats().segmentsReleased;
            totals.reopens++;
            const opened = await Wal.open({ fs, dir, segmentBytes: 4096 });
            wal = opened.wal;
            checkRecovered(opened.recovered, model);
          } else applyOp(wal, model, op);
        }
        await wal.close();
        totals.segmentsCreated += wal.stats().segmentsCreated;
        totals.segmentsReleased += wal.stats().segmentsReleased;
        const opened = await Wal.open({ fs, dir, segmentBytes: 4096 });
        checkRecovered(opened.recovered, model);
        await opened.wal.close();
      }),
      { numRuns: 40 },
    );
    // The property is only as good as what it exercised.
    assert.ok(totals.segmentsCreated > 80, `rollovers: ${JSON.stringify(totals)}`);
    assert.ok(totals.segmentsReleased > 5, `releases: ${JSON.stringify(totals)}`);
    assert.ok(totals.reopens > 5, `reopens: ${JSON.stringify(totals)}`);
  });
});

function checkRecovered(recovered: Map<number, RecoveredGroup>, model: Map<number, ModelGroup>): void {
  for (const [id, g] of model) {
    assert.deepEqual(plainGroup(recovered.get(id)), plainGroup(g), `group ${id}`);
  }
  assert.equal(recovered.size, model.size);
}

test('the bound on unsynced bytes refuses an append whole, and a sync always makes room for it', async () => {
  await withTempDir(async (dir) => {
    const { wal } = await Wal.open({ fs, dir, segmentBytes: 1 << 20, pendingBytesMax: 64 * 1024 });
    wal.appendEntries(1, makeEntries(1, 10, 1, 4096)); // about 41 KiB: fits
    const before = wal.writePosition();
    assert.throws(
      () => wal.appendEntries(1, makeEntries(11, 10, 1, 4096)),
      (e: Error) => e.name === 'WalBackpressureError',
    );
    assert.deepEqual(wal.writePosition(), before, 'a refused append writes nothing');
    await wal.sync();
    // Into an empty round even more than the bound is admitted (one call), so a caller can go on.
    wal.appendEntries(1, makeEntries(11, 20, 1, 4096));
    await wal.sync();
    await wal.close();
    const { wal: reopened, recovered } = await Wal.open({ fs, dir, segmentBytes: 1 << 20 });
    assert.equal(recovered.get(1)?.entries.length, 30);
    await reopened.close();
  });
});

test('a segment that cannot be prepared (no space) stalls the rollover instead of failing the log; space back, it goes on', async () => {
  await withTempDir(async (dir) => {
    let full = false;
    let refused = 0;
    const problems: string[] = [];
    // A segment's preparation (the zero-fill of a file it creates) is where a full disk shows first.
    const hooked = hookedFileSystem(fs, (call) => {
      if (!full || !createsFile(call.mode) || call.op !== 'write') return;
      refused++;
      throw Object.assign(new Error('ENOSPC: injected'), { code: 'ENOSPC' });
    });
    const { wal } = await Wal.open({
      fs: hooked,
      dir,
      segmentBytes: SMALL_SEGMENT_BYTES,
      onSegmentProblem: (e) => problems.push(e.message),
    });
    // Let the background preparation of segment 2 finish, then fill segment 2 so that 3 is needed.
    wal.appendEntries(1, makeEntries(1, 1, 1));
    await wal.sync();
    full = true;
    let next = 2;
    while (wal.writePosition().seq < 3) {
      wal.appendEntries(1, makeEntries(next, 1, 1));
      next++;
      assert.ok(next < 10_000, 'the log rolls over within a bounded number of appends');
    }
    let settled = false;
    const stalled = wal.sync().finally(() => {
      settled = true;
    });
    const deadline = Date.now() + 5_000;
    while (problems.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(problems.length > 0, 'the listener hears of the failed preparation');
    assert.match(problems[0]!, /ENOSPC/);
    assert.match(wal.nextSegmentProblem() ?? '', /ENOSPC/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(settled, false, 'nothing in the round is acknowledged while its segment is missing');
    assert.ok(refused >= 2, `the rollover tries again (${refused} refusals)`);
    full = false;
    await stalled;
    assert.equal(wal.nextSegmentProblem(), undefined);
    wal.appendEntries(1, makeEntries(next, 1, 1));
    await wal.sync();
    await wal.close();
    const { wal: reopened, recovered } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    assert.equal(recovered.get(1)?.entries.length, next);
    await reopened.close();
  });
});

test('closing a log whose rollover waits for space ends the wait (the round fails, nothing acknowledged)', async () => {
  await withTempDir(async (dir) => {
    const made = new Set<string>();
    const hooked = hookedFileSystem(fs, (call) => {
      if (!createsFile(call.mode)) return;
      if (!made.has(call.path) && made.size >= 2) {
        throw Object.assign(new Error('ENOSPC: injected'), { code: 'ENOSPC' });
      }
      made.add(call.path);
    });
    const { wal } = await Wal.open({ fs: hooked, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    let next = 1;
    while (wal.writePosition().seq < 3) wal.appendEntries(1, makeEntries(next++, 1, 1));
    const stalled = wal.sync().then(
      () => 'acknowledged',
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 200));
    await assert.rejects(wal.close(), /ENOSPC/);
    assert.ok((await stalled) instanceof WalFailedError);
  });
});

test('a group reset starts its log over: recovery keeps its new entries from index 1, its term and vote; release does not take them', async () => {
  await withTempDir(async (dir) => {
    const { wal } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    // Group 1 lives to index 300, then is deleted: a tombstone (an install marker at its last index, term 0).
    let last = 0;
    for (let batch = 0; batch < 30; batch++) {
      wal.appendEntries(1, makeEntries(last + 1, 10, 3, 100));
      last += 10;
      wal.appendHardState(1, hs(3, last, 'n2'));
      await wal.sync();
    }
    wal.appendSnapshotMarker(1, index(last), term(0), true);
    await wal.sync();
    // Held again: the log starts over, the vote of term 3 kept.
    const kept = wal.resetGroup(1);
    assert.deepEqual(kept, hs(3, 0, 'n2'));
    await wal.sync();
    // The new replica's log, from index 1, long enough to roll over more than once; each round also
    // gives group 2 a compacted entry, so that only group 1 could pin segments.
    let fresh = 0;
    for (let batch = 0; batch < 30; batch++) {
      wal.appendEntries(1, makeEntries(fresh + 1, 10, 4, 100));
      fresh += 10;
      wal.appendHardState(1, hs(4, fresh, 'n1'));
      wal.appendEntries(2, makeEntries(batch + 1, 1, 1, 100));
      wal.appendSnapshotMarker(2, index(batch + 1), term(1), false);
      await wal.sync();
    }
    // Every segment with group 1's new entries is kept: they are at or below the tombstone's old
    // index, and its marker no longer covers them.
    assert.deepEqual(
      wal.pinningGroups().map((p) => p.group),
      [1],
    );
    await wal.close();
    const { wal: reopened, recovered } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    const g = recovered.get(1);
    assert.deepEqual(g?.snapshot, { index: 0, term: 0 });
    assert.deepEqual(g?.hardState, hs(4, fresh, 'n1'));
    assert.deepEqual(plainEntries(g?.entries ?? []), plainEntries(makeEntries(1, fresh, 4, 100)));
    await reopened.close();
  });
});

test('a reset not followed by entries recovers as an empty log with the term and vote kept', async () => {
  await withTempDir(async (dir) => {
    const { wal } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    wal.appendEntries(7, makeEntries(1, 5, 2));
    wal.appendHardState(7, hs(2, 5, 'n3'));
    wal.appendSnapshotMarker(7, index(5), term(0), true);
    await wal.sync();
    wal.resetGroup(7);
    await wal.sync();
    await wal.close();
    const { wal: reopened, recovered } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    assert.deepEqual(plainGroup(recovered.get(7)), {
      hardState: { ...hs(2, 0, 'n3') },
      snapshot: { index: 0, term: 0 },
      entries: [],
    });
    await reopened.close();
  });
});
