import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Entry } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { decodeFrame, encodeRecord, recordBytes, type WalRecord } from './record.ts';
import { plainEntries } from './test-helpers.ts';

const u53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const group = fc.integer({ min: 0, max: 0xffff_ffff });

const entriesArb = fc
  .tuple(
    fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER - 100 }),
    fc.array(fc.tuple(u53, fc.boolean(), fc.uint8Array({ maxLength: 64 })), { minLength: 1, maxLength: 20 }),
  )
  .map(([first, xs]): Entry[] =>
    xs.map(([t, conf, data], i) => ({
      index: index(first + i),
      term: term(t),
      type: conf ? 'confChange' : 'normal',
      data,
    })),
  );

const recordArb: fc.Arbitrary<WalRecord> = fc.oneof(
  fc.record({ type: fc.constant('segmentHeader' as const), seq: u53 }),
  fc.record({ type: fc.constant('entries' as const), group, entries: entriesArb }),
  fc.record({
    type: fc.constant('hardState' as const),
    group,
    hardState: fc.record({
      term: u53.map(term),
      vote: fc.string({ maxLength: 40 }).map(nodeId),
      commit: u53.map(index),
    }),
  }),
  fc.record({
    type: fc.constant('snapshotMarker' as const),
    group,
    index: u53.map(index),
    term: u53.map(term),
    discardLog: fc.boolean(),
  }),
);

function comparable(r: WalRecord): unknown {
  // Spread: fast-check builds records without Object.prototype, which deepEqual would count as a difference.
  if (r.type === 'entries') return { ...r, entries: plainEntries(r.entries) };
  if (r.type === 'hardState') return { ...r, hardState: { ...r.hardState } };
  return { ...r };
}

test('every record round-trips through framing, at any offset in a larger buffer', () => {
  fc.assert(
    fc.property(recordArb, fc.nat({ max: 16 }), (record, pad) => {
      const frame = encodeRecord(record);
      assert.equal(frame.length, recordBytes(record));
      const buf = Buffer.alloc(pad + frame.length + 16);
      frame.copy(buf, pad);
      const got = decodeFrame(buf, pad);
      assert.equal(got.kind, 'record');
      if (got.kind !== 'record') return;
      assert.equal(got.nextOffset, pad + frame.length);
      assert.deepEqual(comparable(got.record), comparable(record));
      assert.equal(decodeFrame(buf, got.nextOffset).kind, 'end');
    }),
    { numRuns: 300 },
  );
});

test('any single flipped bit is detected, and any cut-off frame is reported as truncated', () => {
  fc.assert(
    fc.property(recordArb, fc.nat(), fc.nat({ max: 7 }), (record, at, bit) => {
      const frame = encodeRecord(record);
      const flipped = Buffer.from(frame);
      const pos = at % frame.length;
      flipped[pos] = flipped[pos]! ^ (1 << bit);
      assert.notEqual(
        decodeFrame(flipped, 0).kind,
        'record',
        `flip at byte ${pos} bit ${bit} went unnoticed`,
      );
      const cut = frame.subarray(0, at % frame.length);
      const kind = decodeFrame(cut, 0).kind;
      assert.ok(
        kind === 'truncated' || (kind === 'end' && cut.every((b) => b === 0)),
        `cut at ${cut.length}: ${kind}`,
      );
    }),
    { numRuns: 300 },
  );
});

test('the checksum covers the length field: a frame with a changed length but a valid-looking tail is rejected', () => {
  const record: WalRecord = {
    type: 'snapshotMarker',
    group: 7,
    index: index(10),
    term: term(2),
    discardLog: false,
  };
  const frame = Buffer.concat([encodeRecord(record), Buffer.alloc(8)]);
  frame.writeUInt32LE(frame.readUInt32LE(0) + 4, 0);
  const got = decodeFrame(frame, 0);
  assert.equal(got.kind, 'invalid');
});

test('entries must be contiguous when encoded', () => {
  const entries: Entry[] = [
    { index: index(1), term: term(1), type: 'normal', data: new Uint8Array() },
    { index: index(3), term: term(1), type: 'normal', data: new Uint8Array() },
  ];
  assert.throws(() => encodeRecord({ type: 'entries', group: 1, entries }), /not contiguous/);
});
