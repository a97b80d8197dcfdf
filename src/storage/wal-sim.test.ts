// The WAL on SimFileSystem: what a crash may do to it (file-system.ts) never loses an acknowledged
// record and never yields a log that is wrong but accepted; a full disk and failed writes or syncs
// behave as on the disk (wal.test.ts runs the same log on the disk).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Entry } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { createsFile, type FileSystem } from './file-system.ts';
import { SimFileSystem, type Tearing } from './sim-file-system.ts';
import {
  hookedFileSystem,
  KEEP_ALL,
  KEEP_NONE,
  makeEntries,
  plainEntries,
  seededRng,
} from './test-helpers.ts';
import { type RecoveredGroup, Wal, type WalDurability } from './wal.ts';
import { WalCorruptionError, WalFailedError } from './wal-errors.ts';

const DIR = '/data/wal';
const SEGMENT_BYTES = 4096;
const GROUP = 1;

function open(fs: FileSystem, durability: WalDurability = 'dsync') {
  return Wal.open({ fs, dir: DIR, segmentBytes: SEGMENT_BYTES, durability });
}

/** Entries first..first+count-1 whose payload names their index and the life that wrote them. */
function entriesOf(first: number, count: number, life: number, bytes: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    index: index(first + i),
    term: term(1),
    type: 'normal' as const,
    data: Buffer.from(`${first + i}@${life}:${'x'.repeat(bytes)}`),
  }));
}

/** Lets the log's I/O lane (whose simulated calls settle at once) run `ticks` steps. */
async function runMicrotasks(ticks: number): Promise<void> {
  for (let i = 0; i < ticks; i++) await Promise.resolve();
}

test('synced records survive a crash; appended but unsynced ones are not on the disk', async () => {
  for (const rng of [KEEP_NONE, KEEP_ALL, seededRng(1)]) {
    const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
    const { wal } = await open(disk.mount());
    wal.appendEntries(GROUP, makeEntries(1, 5, 1));
    await wal.sync();
    wal.appendEntries(GROUP, makeEntries(6, 5, 1));
    disk.crash(rng);
    await wal.close().catch(() => {});
    const { recovered } = await open(disk.mount());
    assert.deepEqual(plainEntries(recovered.get(GROUP)?.entries ?? []), plainEntries(makeEntries(1, 5, 1)));
  }
});

test('records synced into a rolled-over segment survive a crash that keeps nothing unsynced', async () => {
  for (const durability of ['dsync', 'fdatasync'] as const) {
    const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
    const { wal } = await open(disk.mount(), durability);
    let next = 1;
    // Bounded: a segment of 4 KiB holds fewer than 100 of these entries.
    while (wal.writePosition().seq < 3) {
      wal.appendEntries(GROUP, makeEntries(next, 1, 1, 100));
      next++;
      await wal.sync();
    }
    // The crash takes every directory change not fsynced, and every write not synced.
    disk.crash(KEEP_NONE);
    await wal.close().catch(() => {});
    const { recovered } = await open(disk.mount(), durability);
    assert.equal(recovered.get(GROUP)?.entries.length, next - 1, durability);
  }
});

test('a crash before the first write into a new segment loses no vote once the older segments are released', async () => {
  const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
  // The power goes just before the first write into segment 2: its name is durable, it holds only its header.
  const fs = hookedFileSystem(disk.mount(), (call) => {
    if (!createsFile(call.mode) && call.op === 'write' && call.path.includes('0000000000000002.wal')) {
      disk.crash(KEEP_ALL);
      throw Object.assign(new Error('EIO: the power went'), { code: 'EIO' });
    }
  });
  const { wal } = await open(fs);
  const vote = { term: term(3), vote: nodeId('n2'), commit: index(0) };
  wal.appendHardState(2, vote); // group 2's vote: no other record of it anywhere
  let next = 1;
  // Bounded: 4 KiB segments roll over within 40 of these entries.
  while (wal.writePosition().seq < 2) wal.appendEntries(GROUP, makeEntries(next++, 1, 1, 100));
  await assert.rejects(wal.sync(), WalFailedError);
  await wal.close().catch(() => {});
  // The restart appends to segment 2; group 1 compacts everything, so segment 1 can go.
  const restarted = await open(disk.mount());
  assert.deepEqual(restarted.recovered.get(2)?.hardState, vote);
  const last = restarted.recovered.get(GROUP)?.entries.at(-1)?.index ?? 0;
  restarted.wal.appendEntries(GROUP, makeEntries(last + 1, 1, 1, 100));
  restarted.wal.appendSnapshotMarker(GROUP, index(last + 1), term(1), false);
  await restarted.wal.sync();
  // Still in segment 2 (a rollover would write a whole checkpoint into segment 3 and hide the loss).
  assert.deepEqual(restarted.wal.segmentSeqs(), [2], 'segment 1 was released');
  await restarted.wal.close();
  const { wal: again, recovered } = await open(disk.mount());
  assert.deepEqual(recovered.get(2)?.hardState, vote, "group 2's vote survives the release");
  await again.close();
});

// ---- random appends, syncs, compactions and crashes against a model ------------------------------

type Op =
  | { kind: 'append'; count: number; bytes: number }
  | { kind: 'sync' }
  | { kind: 'compact' }
  | { kind: 'crash'; seed: number; ticks: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      count: fc.integer({ min: 1, max: 8 }),
      bytes: fc.nat({ max: 300 }),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: 'sync' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'compact' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('crash' as const),
      seed: fc.nat(),
      ticks: fc.nat({ max: 24 }),
    }),
  },
);

/** What the log was told, and what it acknowledged. */
interface Model {
  /** Payload of every entry appended in this timeline, by index (1-based; [0] unused). */
  entries: string[];
  marker: number;
  /** Everything up to here was acknowledged by a sync (or recovered): a crash must keep it. */
  syncedLast: number;
  syncedMarker: number;
  life: number;
}

interface Totals {
  crashes: number;
  midSync: number;
  torn: number;
  corruptionReported: number;
  segmentsReleased: number;
}

/** Checks a recovered group against the model and moves the model to what survived. */
function checkRecovered(rec: RecoveredGroup | undefined, m: Model, totals: Totals): void {
  const marker = rec?.snapshot?.index ?? 0;
  const entries = rec?.entries ?? [];
  assert.ok(
    marker >= m.syncedMarker && marker <= m.marker,
    `marker ${marker} of [${m.syncedMarker}, ${m.marker}]`,
  );
  entries.forEach((e, i) => {
    assert.equal(e.index, marker + 1 + i, 'entries follow the marker without a gap');
    assert.equal(Buffer.from(e.data).toString(), m.entries[e.index], `entry ${e.index}`);
  });
  const last = entries[entries.length - 1]?.index ?? marker;
  assert.ok(last >= m.syncedLast, `recovered up to ${last}, but ${m.syncedLast} was acknowledged`);
  assert.ok(last <= m.entries.length - 1, `recovered up to ${last}, only ${m.entries.length - 1} appended`);
  if (last < m.entries.length - 1) totals.torn++;
  m.entries = m.entries.slice(0, last + 1);
  m.marker = marker;
  m.syncedMarker = marker;
  m.syncedLast = last;
  m.life++;
}

async function runOps(ops: readonly Op[], tearing: Tearing, totals: Totals): Promise<void> {
  const disk = new SimFileSystem({ capacityBytes: 1 << 22, tearing });
  let wal = (await open(disk.mount())).wal;
  const m: Model = { entries: [''], marker: 0, syncedLast: 0, syncedMarker: 0, life: 0 };
  for (const op of ops) {
    if (op.kind === 'append') {
      const first = m.entries.length;
      const entries = entriesOf(first, op.count, m.life, op.bytes);
      wal.appendEntries(GROUP, entries);
      for (const e of entries) m.entries.push(Buffer.from(e.data).toString());
    } else if (op.kind === 'sync') {
      await wal.sync();
      m.syncedLast = m.entries.length - 1;
      m.syncedMarker = m.marker;
    } else if (op.kind === 'compact') {
      const at = m.entries.length - 1;
      if (at <= m.marker) continue;
      wal.appendSnapshotMarker(GROUP, index(at), term(1), false);
      m.marker = at;
    } else {
      // A sync in flight, and the power goes after a few steps of it (or before any, or after all).
      const appendedLast = m.entries.length - 1;
      const marker = m.marker;
      const syncing = wal.sync().then(
        () => true,
        () => false,
      );
      await runMicrotasks(op.ticks);
      disk.crash(seededRng(op.seed));
      totals.crashes++;
      if (await syncing) {
        m.syncedLast = appendedLast;
        m.syncedMarker = marker;
      } else totals.midSync++;
      totals.segmentsReleased += wal.stats().segmentsReleased;
      await wal.close().catch(() => {});
      let opened: Awaited<ReturnType<typeof open>>;
      try {
        opened = await open(disk.mount());
      } catch (e) {
        // Refusing to start is safe; accepting a wrong log is not. Only 'sectors' tearing may get here.
        assert.ok(e instanceof WalCorruptionError && tearing === 'sectors', String(e));
        totals.corruptionReported++;
        return;
      }
      checkRecovered(opened.recovered.get(GROUP), m, totals);
      wal = opened.wal;
    }
  }
  totals.segmentsReleased += wal.stats().segmentsReleased;
  await wal.close();
  disk.crash(seededRng(ops.length));
  const { wal: last, recovered } = await open(disk.mount());
  checkRecovered(recovered.get(GROUP), m, totals);
  await last.close();
}

test('random appends, syncs, compactions and crashes (some in the middle of a sync): the recovered log is a prefix of what was appended, never shorter than what was acknowledged', async (t) => {
  const totals: Totals = { crashes: 0, midSync: 0, torn: 0, corruptionReported: 0, segmentsReleased: 0 };
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 120 }), (ops) =>
      runOps(ops, 'prefix', totals),
    ),
    { numRuns: 150 },
  );
  t.diagnostic(JSON.stringify(totals));
  // The property is only as good as what it exercised.
  assert.ok(totals.crashes > 100, JSON.stringify(totals));
  assert.ok(totals.midSync > 20, `crashes in the middle of a sync: ${JSON.stringify(totals)}`);
  assert.ok(totals.torn > 20, `crashes that lost unacknowledged records: ${JSON.stringify(totals)}`);
  assert.ok(totals.segmentsReleased > 20, `segments released: ${JSON.stringify(totals)}`);
  assert.equal(totals.corruptionReported, 0);
});

test('with writes torn at any sector (what a disk may do), the log is refused as corrupt or recovered correctly, never wrong', async (t) => {
  const totals: Totals = { crashes: 0, midSync: 0, torn: 0, corruptionReported: 0, segmentsReleased: 0 };
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 120 }), (ops) =>
      runOps(ops, 'sectors', totals),
    ),
    { numRuns: 100 },
  );
  t.diagnostic(JSON.stringify(totals));
  assert.ok(totals.crashes > 50, JSON.stringify(totals));
});

// ---- a full disk, failed writes and syncs ---------------------------------------------------------

test('a disk without room for the next segment stalls the rollover (nothing acknowledged), and it goes on once room is back', async () => {
  // Room for the first two segments and a little more: the third cannot be prepared.
  const disk = new SimFileSystem({ capacityBytes: 2 * SEGMENT_BYTES + 1000 });
  const problems: string[] = [];
  const { wal } = await Wal.open({
    fs: disk.mount(),
    dir: DIR,
    segmentBytes: SEGMENT_BYTES,
    onSegmentProblem: (e) => problems.push(e.message),
  });
  let next = 1;
  // Bounded: each pass appends an entry of about 130 bytes to 4 KiB segments.
  while (wal.writePosition().seq < 3) {
    wal.appendEntries(GROUP, makeEntries(next++, 1, 1, 100));
    if (wal.writePosition().seq < 3) await wal.sync();
  }
  assert.match(problems[0] ?? '', /ENOSPC/, 'told at once when the third segment could not be prepared');
  let settled = false;
  const stalled = wal.sync().finally(() => {
    settled = true;
  });
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(settled, false, 'nothing in the round is acknowledged while its segment is missing');
  assert.match(wal.nextSegmentProblem() ?? '', /ENOSPC/);
  assert.equal(await disk.mount().freeBytes('/data'), 1000, 'a failed preparation leaves no file behind');
  disk.setCapacity(1 << 20);
  await stalled;
  assert.equal(wal.nextSegmentProblem(), undefined);
  disk.crash(KEEP_NONE);
  await wal.close().catch(() => {});
  const { recovered } = await open(disk.mount());
  assert.equal(recovered.get(GROUP)?.entries.length, next - 1, 'every acknowledged entry');
});

test('a rollover waiting for space waits through the sleep it is handed (the node clock), not the real one', async () => {
  const disk = new SimFileSystem({ capacityBytes: 2 * SEGMENT_BYTES + 1000 });
  const waits: number[] = [];
  const wakers: (() => void)[] = [];
  const { wal } = await Wal.open({
    fs: disk.mount(),
    dir: DIR,
    segmentBytes: SEGMENT_BYTES,
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        waits.push(ms);
        wakers.push(resolve);
      }),
  });
  let next = 1;
  // Bounded: each pass appends an entry of about 130 bytes to 4 KiB segments.
  while (wal.writePosition().seq < 3) {
    wal.appendEntries(GROUP, makeEntries(next++, 1, 1, 100));
    if (wal.writePosition().seq < 3) await wal.sync();
  }
  let settled = false;
  const stalled = wal.sync().finally(() => {
    settled = true;
  });
  await runMicrotasks(200);
  assert.deepEqual(waits, [100], 'one wait of 100 ms, asked of the sleep handed in');
  assert.equal(settled, false, 'nothing acknowledged while the segment is missing');
  // Bounded: each pass wakes one wait; the log doubles them while there is still no room.
  for (let i = 0; i < 3; i++) {
    wakers.shift()?.();
    await runMicrotasks(200);
  }
  assert.deepEqual(waits, [100, 200, 400, 800], 'each failed try waits twice as long');
  assert.equal(settled, false);
  disk.setCapacity(1 << 20);
  wakers.shift()?.();
  await stalled;
  assert.equal(waits.length, 4, 'no wait after the segment was prepared');
  await wal.close();
});

test('a replay told to skip checksums (a planted bug) opens on a record the disk damaged; the default refuses', async () => {
  const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
  const { wal } = await open(disk.mount());
  wal.appendEntries(GROUP, entriesOf(1, 1, 1, 10));
  await wal.sync();
  const end = wal.writePosition().offsetBytes;
  wal.appendEntries(GROUP, entriesOf(2, 1, 1, 10));
  await wal.sync();
  await wal.close();
  // The last byte of the first entries record: the last byte of entry 1's data ('x' → 'y').
  disk.flipBit(`${DIR}/0000000000000001.wal`, end - 1, 0);
  await assert.rejects(open(disk.mount()), WalCorruptionError);
  const unsafe = await Wal.open({
    fs: disk.mount(),
    dir: DIR,
    segmentBytes: SEGMENT_BYTES,
    unsafeSkipChecksums: true,
  });
  const first = unsafe.recovered.get(GROUP)?.entries[0];
  assert.equal(Buffer.from(first?.data ?? []).toString(), `1@1:${'x'.repeat(9)}y`);
  await unsafe.wal.close();
});

for (const durability of ['dsync', 'fdatasync'] as const) {
  test(`a failed ${durability === 'dsync' ? 'O_DSYNC write' : 'fdatasync'} poisons the log; what was acknowledged survives the crash`, async () => {
    const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
    const { wal } = await open(disk.mount(), durability);
    wal.appendEntries(GROUP, makeEntries(1, 3, 1));
    await wal.sync();
    disk.failNext({ op: durability === 'dsync' ? 'write' : 'sync', path: /\.wal$/, code: 'EIO' });
    wal.appendEntries(GROUP, makeEntries(4, 3, 1));
    await assert.rejects(wal.sync(), (e: unknown) => e instanceof WalFailedError && /EIO/.test(e.message));
    assert.throws(() => wal.appendEntries(GROUP, makeEntries(7, 1, 1)), WalFailedError);
    await assert.rejects(wal.sync(), WalFailedError);
    await wal.close().catch(() => {});
    disk.crash(KEEP_ALL);
    const { recovered } = await open(disk.mount(), durability);
    assert.deepEqual(plainEntries(recovered.get(GROUP)?.entries ?? []), plainEntries(makeEntries(1, 3, 1)));
  });
}

test('after a failed fdatasync, a restart without dropping the cache reads records that are not on the disk', async () => {
  // Why the node's WAL_FAILED message says to drop the file cache (or reboot) before restarting.
  for (const dropCaches of [false, true]) {
    const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
    const { wal } = await open(disk.mount(), 'fdatasync');
    wal.appendEntries(GROUP, makeEntries(1, 3, 1));
    await wal.sync();
    disk.failNext({ op: 'sync', path: /\.wal$/, code: 'EIO' });
    wal.appendEntries(GROUP, makeEntries(4, 3, 1));
    await assert.rejects(wal.sync(), WalFailedError);
    await wal.close().catch(() => {});
    if (dropCaches) disk.dropCaches();
    const restarted = await open(disk.mount(), 'fdatasync');
    assert.equal(restarted.recovered.get(GROUP)?.entries.length, dropCaches ? 3 : 6);
    await restarted.wal.close();
    disk.crash(KEEP_NONE);
    const { recovered } = await open(disk.mount(), 'fdatasync');
    assert.equal(recovered.get(GROUP)?.entries.length, 3, 'the cache-only records are gone');
  }
});
