// Wal.readEntries: entries read back from the segments equal what was appended, across rollovers,
// overwritten suffixes, compaction markers and a reopen; what a marker covers, or bytes that do not
// check out, are refused.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Entry } from '../raft/types.ts';
import { index, term } from '../raft/types.ts';
import { EntryLocations } from './entry-locations.ts';
import { REAL_FILE_SYSTEM } from './real-file-system.ts';
import { makeEntries, plainEntries, withTempDir } from './test-helpers.ts';
import { segmentFileName, Wal } from './wal.ts';

const fs = REAL_FILE_SYSTEM;
const SMALL_SEGMENT_BYTES = 16 * 1024;

test('entry locations: a record that overwrites a suffix cuts the records it overlaps; markers drop covered ones', () => {
  const l = new EntryLocations();
  l.add(1, 5, 1, 100, 50); // 1..5
  l.add(6, 5, 1, 150, 50); // 6..10
  l.add(8, 2, 2, 30, 20); // overwrites 8.. : 6..7 stand of the second
  assert.deepEqual(
    l.locate(1, 100).map((r) => [r.first, r.count, r.seq, r.offsetBytes]),
    [
      [1, 5, 1, 100],
      [6, 2, 1, 150],
      [8, 2, 2, 30],
    ],
  );
  assert.deepEqual(
    l.locate(7, 9).map((r) => r.first),
    [6, 8],
  );
  assert.deepEqual(l.locate(10, 11), [], 'past the last entry');
  l.dropUpTo(6); // the second record still holds 7
  assert.deepEqual(
    l.locate(7, 100).map((r) => r.first),
    [6, 8],
  );
  assert.deepEqual(l.locate(1, 100), [], 'not held');
  assert.deepEqual(l.locate(5, 6), [], 'covered');
  l.add(20, 1, 3, 0, 10); // a gap: the log started over
  assert.deepEqual(
    l.locate(20, 100).map((r) => r.first),
    [20],
  );
  assert.deepEqual(l.locate(9, 100), [], 'forgotten with the gap');
  l.dropUpTo(20);
  assert.equal(l.size, 0);
});

type Op =
  | { kind: 'append'; group: number; back: number; count: number; bytes: number }
  | { kind: 'marker'; group: number; back: number }
  | { kind: 'reopen' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      group: fc.integer({ min: 1, max: 2 }),
      back: fc.integer({ min: 0, max: 4 }),
      count: fc.integer({ min: 1, max: 8 }),
      bytes: fc.integer({ min: 1, max: 900 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('marker' as const),
      group: fc.integer({ min: 1, max: 2 }),
      back: fc.integer({ min: 0, max: 10 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
);

test('entries read back equal the log the groups hold, through overwrites, rollovers, markers and reopens', async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), async (ops) => {
      await withTempDir(async (dir) => {
        run++;
        let { wal } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
        // The model: each group's marker and its entries after it.
        const model = new Map<number, { marker: number; entries: Entry[] }>([
          [1, { marker: 0, entries: [] }],
          [2, { marker: 0, entries: [] }],
        ]);
        let t = 1;
        try {
          for (const op of ops) {
            if (op.kind === 'reopen') {
              await wal.sync();
              await wal.close();
              ({ wal } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES }));
              continue;
            }
            const g = model.get(op.group)!;
            const last = g.marker + g.entries.length;
            if (op.kind === 'marker') {
              const at = Math.max(g.marker, last - op.back);
              if (at === g.marker) continue;
              wal.appendSnapshotMarker(op.group, index(at), term(1), false);
              g.entries = g.entries.slice(at - g.marker);
              g.marker = at;
              continue;
            }
            const first = Math.max(g.marker + 1, last + 1 - op.back);
            const es = makeEntries(first, op.count, t++, op.bytes);
            wal.appendEntries(op.group, es);
            g.entries = [...g.entries.slice(0, first - g.marker - 1), ...es];
          }
          await wal.sync();
          for (const [group, g] of model) {
            const last = g.marker + g.entries.length;
            for (let lo = g.marker + 1; lo <= last; lo += 3) {
              const got = await wal.readEntries(group, index(lo), index(last + 1), Number.POSITIVE_INFINITY);
              assert.deepEqual(
                plainEntries(got),
                plainEntries(g.entries.slice(lo - g.marker - 1)),
                `run ${run} group ${group} from ${lo}`,
              );
            }
            if (last > g.marker) {
              // A bound on bytes: whole records, at least one, a prefix of the log from lo.
              const got = await wal.readEntries(group, index(g.marker + 1), index(last + 1), 1);
              assert.ok(got.length >= 1);
              assert.deepEqual(plainEntries(got), plainEntries(g.entries.slice(0, got.length)));
            }
            if (g.marker > 0) {
              await assert.rejects(
                wal.readEntries(group, index(g.marker), index(g.marker + 1), Number.POSITIVE_INFINITY),
                /not in the log/,
              );
            }
          }
        } finally {
          await wal.close();
        }
      });
    }),
    { numRuns: 40 },
  );
});

test('entries read back that do not check out are refused, with the file and offset', async () => {
  await withTempDir(async (dir) => {
    const { wal } = await Wal.open({ fs, dir, segmentBytes: SMALL_SEGMENT_BYTES });
    try {
      wal.appendEntries(1, makeEntries(1, 4, 1, 64));
      await wal.sync();
      assert.equal((await wal.readEntries(1, index(2), index(5), Number.POSITIVE_INFINITY)).length, 3);
      const path = join(dir, segmentFileName(1));
      const buf = await readFile(path);
      // The first entry's payload byte (value 1) in the first entries record after the header and checkpoint.
      const at = buf.indexOf(Buffer.alloc(64, 1));
      assert.ok(at > 0);
      buf[at] = 0xee;
      await writeFile(path, buf);
      await assert.rejects(
        wal.readEntries(1, index(2), index(5), Number.POSITIVE_INFINITY),
        (e: Error) => /checksum mismatch/.test(e.message) && e.message.includes(segmentFileName(1)),
      );
    } finally {
      await wal.close();
    }
  });
});
