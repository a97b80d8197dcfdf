import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { CasExpect, Command } from './command.ts';
import { type KeyRange, type KvSnapshotView, KvState, prefixRange } from './kv-state.ts';
import { SortedKeys } from './sorted-keys.ts';

/** The reference: a plain map keyed by hex (hex order is bytewise order), sorted on every scan. */
class Model {
  readonly data = new Map<string, { value: string; version: number }>();
  applied = 0;

  put(k: string, v: string, i: number): number {
    const prev = this.data.get(k)?.version ?? 0;
    this.data.set(k, { value: v, version: i });
    this.applied = i;
    return prev;
  }
  delete(k: string, i: number): boolean {
    this.applied = i;
    return this.data.delete(k);
  }
  cas(k: string, expect: CasExpect, v: string | null, i: number): { ok: boolean; current: unknown } {
    const cur = this.data.get(k);
    const ok =
      expect.kind === 'absent'
        ? cur === undefined
        : expect.kind === 'version'
          ? cur?.version === expect.version
          : cur !== undefined && cur.value === hex(expect.value);
    if (ok && v === null) this.data.delete(k);
    if (ok && v !== null) this.data.set(k, { value: v, version: i });
    this.applied = i;
    return { ok, current: cur };
  }
  scanAll(startHex: string, endHex: string | undefined): [string, string, number][] {
    return [...this.data.entries()]
      .filter(([k]) => k >= startHex && (endHex === undefined || k < endHex))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, v.value, v.version]);
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// A tiny alphabet so that keys collide, share prefixes, and include 0x00 and 0xff edge bytes.
const byteArb = fc.constantFrom(0x00, 0x01, 0x61, 0x7f, 0x80, 0xff);
const keyArb = fc.array(byteArb, { minLength: 1, maxLength: 4 }).map((xs) => Uint8Array.from(xs));
const valueArb = fc.array(byteArb, { maxLength: 3 }).map((xs) => Uint8Array.from(xs));

type Op =
  | { kind: 'put'; key: Uint8Array; value: Uint8Array }
  | { kind: 'delete'; key: Uint8Array }
  | { kind: 'cas'; key: Uint8Array; expect: CasExpect; value: Uint8Array | null; useCurrentVersion: boolean }
  | { kind: 'get'; key: Uint8Array }
  | { kind: 'scan'; range: 'prefix' | 'range' | 'open'; a: Uint8Array; b: Uint8Array; limit: number }
  | { kind: 'snapshot' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyArb, value: valueArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('cas' as const),
      key: keyArb,
      expect: fc.oneof(
        fc.constant({ kind: 'absent' as const }),
        fc.record({ kind: fc.constant('value' as const), value: valueArb }),
        fc.record({ kind: fc.constant('version' as const), version: fc.nat(60) }),
      ),
      value: fc.option(valueArb, { nil: null }),
      useCurrentVersion: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), key: keyArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('scan' as const),
      range: fc.constantFrom('prefix' as const, 'range' as const, 'open' as const),
      a: keyArb,
      b: keyArb,
      limit: fc.integer({ min: 1, max: 5 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'snapshot' as const }) },
);

function rangeOf(op: Extract<Op, { kind: 'scan' }>): KeyRange {
  if (op.range === 'prefix') return prefixRange(op.a);
  if (op.range === 'open') return { start: op.a };
  return { start: op.a, end: op.b };
}

/** Scans page by page through `resume`, checking each page against the model's slice. */
function checkScan(state: KvState, model: Model, op: Extract<Op, { kind: 'scan' }>): void {
  const range = rangeOf(op);
  const expected = model.scanAll(hex(range.start), range.end === undefined ? undefined : hex(range.end));
  const got: [string, string, number][] = [];
  let start = range.start;
  for (let page = 0; page <= expected.length; page++) {
    const r = state.scan({ start, end: range.end }, op.limit);
    assert.ok(r.items.length <= op.limit);
    got.push(...r.items.map((it): [string, string, number] => [hex(it.key), hex(it.value), it.version]));
    if (r.resume === undefined) break;
    assert.equal(r.items.length, op.limit, 'resume only on a full page');
    start = r.resume;
  }
  assert.deepEqual(got, expected);
}

function runOp(state: KvState, model: Model, op: Op, i: number): KvState {
  switch (op.kind) {
    case 'put':
      assert.equal(state.put(op.key, op.value, i), model.put(hex(op.key), hex(op.value), i));
      return state;
    case 'delete':
      assert.equal(state.delete(op.key, i), model.delete(hex(op.key), i));
      return state;
    case 'cas': {
      const cur = model.data.get(hex(op.key));
      const expect: CasExpect =
        op.useCurrentVersion && cur !== undefined ? { kind: 'version', version: cur.version } : op.expect;
      const got = state.cas(op.key, expect, op.value, i);
      const want = model.cas(hex(op.key), expect, op.value === null ? null : hex(op.value), i);
      assert.equal(got.ok, want.ok);
      const gotCur =
        got.current === undefined
          ? undefined
          : { value: hex(got.current.value), version: got.current.version };
      assert.deepEqual(gotCur, want.current);
      return state;
    }
    case 'get': {
      const got = state.get(op.key);
      const want = model.data.get(hex(op.key));
      assert.deepEqual(got === undefined ? undefined : { value: hex(got.value), version: got.version }, want);
      return state;
    }
    case 'scan':
      checkScan(state, model, op);
      return state;
    case 'snapshot': {
      const bytes = state.serialize();
      const restored = KvState.restore(bytes, { leafKeysMax: 4 });
      assert.deepEqual(
        Buffer.from(restored.serialize()),
        Buffer.from(bytes),
        'serialise ∘ restore is the identity',
      );
      assert.equal(restored.appliedIndex, model.applied);
      assert.equal(restored.sizeBytes, state.sizeBytes);
      return restored;
    }
  }
}

test('kv-state agrees with a reference model on random operation sequences (tiny leaves: splits and merges)', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 150, size: 'max' }), (ops) => {
      let state = new KvState({ leafKeysMax: 4 });
      const model = new Model();
      ops.forEach((op, i) => {
        state = runOp(state, model, op, i + 1);
      });
      assert.equal(state.count, model.data.size);
      checkScan(state, model, {
        kind: 'scan',
        range: 'open',
        a: Uint8Array.of(0),
        b: Uint8Array.of(0),
        limit: 3,
      });
    }),
    { numRuns: 300 },
  );
});

test('equal states serialise to equal bytes whatever their history; scans are in bytewise order', () => {
  const keys = ['b', 'a', 'ab', 'c', '\u0000', '\u00ff'];
  const a = new KvState();
  const b = new KvState({ leafKeysMax: 2 });
  keys.forEach((k, i) => {
    a.put(Buffer.from(k, 'latin1'), Buffer.from([i]), i + 1);
    b.put(Buffer.from(k, 'latin1'), Buffer.from([i]), i + 1);
  });
  a.advanceApplied(7);
  a.advanceApplied(8);
  b.put(Buffer.from('zz'), Buffer.from('x'), 7); // a different history with the same outcome
  b.delete(Buffer.from('zz'), 8);
  assert.deepEqual(Buffer.from(b.serialize()), Buffer.from(a.serialize()));
  assert.deepEqual(
    b.scan({ start: new Uint8Array() }, 10).items.map((it) => Buffer.from(it.key).toString('latin1')),
    ['\u0000', 'a', 'ab', 'b', 'c', '\u00ff'],
  );
  const restored = KvState.restore(a.serialize());
  assert.equal(restored.appliedIndex, 8);
  assert.deepEqual(restored.get(Buffer.from('ab')), { value: Buffer.from([2]), version: 3 });
  assert.throws(() => KvState.restore(Buffer.from(a.serialize()).subarray(0, 30)), /malformed snapshot/);
  assert.throws(() => a.put(Buffer.from('x'), Buffer.from('y'), 3), /applying index 3 after 8/);
});

test("a written value is copied into the state's slabs: not the caller's bytes", () => {
  const entry = Buffer.alloc(64, 7); // as a Raft entry or a network frame holding the value
  const s = new KvState();
  s.put(Buffer.from('k'), entry.subarray(8, 40), 1);
  const v = s.get(Buffer.from('k'))!.value;
  assert.deepEqual(v, Buffer.alloc(32, 7));
  assert.notEqual(v.buffer, entry.buffer);
  assert.deepEqual(s.valueBytes, { liveBytes: 32, usedBytes: 32, slabs: 1 });
  entry.fill(0);
  assert.deepEqual(s.get(Buffer.from('k'))!.value, Buffer.alloc(32, 7), 'a copy');
});

test("a change report's values and a read's are copies: a slot taken again does not change them, a watch keeps no slab", () => {
  const s = new KvState();
  const changes: { value: Uint8Array; prev: Uint8Array | undefined }[] = [];
  s.onChange = (c) => changes.push({ value: c.value, prev: c.prev?.value });
  s.put(Buffer.from('k'), Buffer.from('one'), 1);
  const read = s.get(Buffer.from('k'))!.value;
  s.put(Buffer.from('k'), Buffer.from('two'), 2);
  // 'one''s slot is free again: the next value of its size takes it.
  s.put(Buffer.from('other'), Buffer.from('xxx'), 3);
  assert.equal(s.valueBytes.usedBytes, 2 * 32, "'xxx' took the slot 'one' left");
  assert.equal(Buffer.from(read).toString(), 'one', 'the read before');
  assert.deepEqual(
    changes.map((c) => [Buffer.from(c.value).toString(), c.prev && Buffer.from(c.prev).toString()]),
    [
      ['one', undefined],
      ['two', 'one'],
      ['xxx', undefined],
    ],
  );
  for (const c of changes)
    assert.ok(c.value.buffer.byteLength <= Buffer.poolSize, 'no bigger than the pool of small buffers');
});

test('restored values are read in the snapshot until its garbage passes the bound, then move out of it', () => {
  const KEYS = 400;
  const SIZE = 8 * 1024;
  const key = (i: number) => Buffer.from(`k${String(i).padStart(4, '0')}`);
  const original = new KvState();
  for (let i = 0; i < KEYS; i++) original.put(key(i), Buffer.alloc(SIZE, i % 251), i + 1);
  const data = original.serialize();
  const restored = KvState.restore(data);
  const viewing = () => restored.snapshotBufferLiveBytes / SIZE;
  assert.equal(viewing(), KEYS, 'restore copies no value');
  assert.equal(restored.valueBytes.usedBytes, data.byteLength, 'the buffer is the one slab');
  // A tenth overwritten: 320 KiB of garbage, under a slab's worth; nothing moves.
  let index = KEYS;
  for (let i = 0; i < KEYS / 10; i++) restored.put(key(i), Buffer.from(`new ${i}`), ++index);
  assert.equal(viewing(), KEYS - KEYS / 10);
  // Half deleted: 1.6 MiB of garbage, over a slab and over a quarter of what is live: moves begin.
  for (let i = KEYS / 10; i < KEYS / 2; i++) restored.delete(key(i), ++index);
  assert.ok(viewing() < KEYS / 2, `still ${viewing()} of ${KEYS / 2} live values in the snapshot`);
  for (let w = 0; viewing() > 0 && w < KEYS; w++) restored.put(key(0), Buffer.of(w), ++index);
  assert.equal(restored.valueBytes.usedBytes < data.byteLength, true, 'the snapshot is let go');
  assert.equal(viewing(), 0);
  for (let i = KEYS / 2; i < KEYS; i++) {
    assert.deepEqual(restored.get(key(i)), { value: Buffer.alloc(SIZE, i % 251), version: i + 1 });
  }
  const { liveBytes, usedBytes } = restored.valueBytes;
  const items = restored.scan({ start: Buffer.alloc(0) }, KEYS).items;
  assert.equal(
    liveBytes,
    items.reduce((n, it) => n + it.value.length, 0),
  );
  assert.ok(usedBytes <= liveBytes * 1.25 + 1024 * 1024, `${usedBytes} bytes held for ${liveBytes}`);
});

test('a state restored with only empty values keeps nothing of the snapshot buffer', () => {
  const original = new KvState();
  for (let i = 0; i < 50; i++) original.put(Buffer.from(`key ${i}`), new Uint8Array(0), i + 1);
  const data = original.serialize();
  const restored = KvState.restore(data);
  const items = restored.scan({ start: Buffer.alloc(0) }, 100).items;
  assert.equal(items.length, 50);
  assert.equal(restored.snapshotBufferLiveBytes, 0);
  assert.deepEqual(restored.valueBytes, { liveBytes: 0, usedBytes: 0, slabs: 0 }, 'nothing kept of it');
  assert.deepEqual(Buffer.from(restored.serialize()), Buffer.from(data));
});

test('a restored state, written after, is the state it was plus the writes, its values moving between slabs (fast-check)', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('put' as const), k: fc.nat(60), len: fc.nat(300) }),
    fc.record({ kind: fc.constant('delete' as const), k: fc.nat(60) }),
    fc.record({ kind: fc.constant('range' as const), from: fc.nat(60), span: fc.nat(8) }),
  );
  fc.assert(
    fc.property(
      fc.array(op, { maxLength: 80, size: 'max' }),
      fc.array(op, { maxLength: 400, size: 'max' }),
      (before, after) => {
        const key = (n: number) => Buffer.from(`key-${String(n).padStart(2, '0')}`);
        let index = 0;
        const run = (states: KvState[], ops: typeof before) => {
          for (const o of ops) {
            index++;
            for (const st of states) {
              if (o.kind === 'put') st.put(key(o.k), Buffer.alloc(o.len, index % 256), index);
              else if (o.kind === 'delete') st.delete(key(o.k), index);
              else st.deleteRange({ start: key(o.from), end: key(o.from + o.span) }, index);
            }
          }
        };
        const model = new KvState();
        run([model], before);
        // Tiny slabs: values move between them all the time.
        const restored = KvState.restore(model.serialize(), {
          slabs: { slabBytesMin: 64, slabBytesMax: 4096 },
        });
        const captured = restored.capture();
        const atCapture = model.serialize();
        run([model, restored], after);
        assert.deepEqual(Buffer.from(restored.serialize()), Buffer.from(model.serialize()));
        assert.deepEqual(
          Buffer.from(captured.serialize()),
          Buffer.from(atCapture),
          'a capture keeps its moment',
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('prefix ranges handle trailing 0xff bytes', () => {
  assert.deepEqual(prefixRange(Uint8Array.of(1, 0xff)).end, Buffer.of(2));
  assert.equal(prefixRange(Uint8Array.of(0xff, 0xff)).end, undefined);
  assert.deepEqual(prefixRange(Uint8Array.of(0x61, 0x62)).end, Buffer.of(0x61, 0x63));
});

test('sorted keys stay sorted and complete through many random inserts and deletes', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(300)), { minLength: 100, maxLength: 2000 }), (ops) => {
      const set = new SortedKeys(8);
      const model = new Set<string>();
      for (const [ins, n] of ops) {
        const k = n.toString(36);
        if (ins) assert.equal(set.insert(k), !model.has(k));
        else assert.equal(set.delete(k), model.has(k));
        if (ins) model.add(k);
        else model.delete(k);
      }
      assert.deepEqual(set.toArray(), [...model].sort());
      assert.equal(set.size, model.size);
    }),
    { numRuns: 30 },
  );
});

test('frozen leaves keep the keys of their moment through later inserts and deletes (splits and merges)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.nat(200)), { minLength: 1, maxLength: 1500, size: 'max' }),
      fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
      fc.nat(),
      (ops, cuts, thawCut) => {
        const set = new SortedKeys(4);
        const model = new Set<string>();
        const at = new Set(cuts.map((c) => c % ops.length));
        const thawAt = thawCut % ops.length;
        const frozen: { leaves: readonly (readonly string[])[]; keys: string[] }[] = [];
        ops.forEach(([ins, n], i) => {
          if (at.has(i)) frozen.push({ leaves: set.freeze(), keys: [...model].sort() });
          if (i === thawAt && frozen.length > 0) {
            // Whatever was frozen before is checked now, and no longer protected after.
            for (const f of frozen.splice(0)) assert.deepEqual(f.leaves.flat(), f.keys);
            set.thaw();
          }
          const k = n.toString(36);
          if (ins) assert.equal(set.insert(k), !model.has(k));
          else assert.equal(set.delete(k), model.has(k));
          if (ins) model.add(k);
          else model.delete(k);
        });
        for (const f of frozen) assert.deepEqual(f.leaves.flat(), f.keys, 'frozen leaves changed');
        assert.deepEqual(set.toArray(), [...model].sort());
        assert.equal(set.size, model.size);
      },
    ),
    { numRuns: 200 },
  );
});

test('a capture serialises to the bytes of its moment, whole or in slices, however the state changes after it', async () => {
  // Commands of a few proposers over few keys: overwrites, deletes, leases (granted at an index,
  // attached by puts), so that the sessions and the lease table change in place after the capture.
  const cmdArb = fc.record({
    kind: fc.constantFrom('put', 'put', 'delete', 'leaseGrant', 'putLease'),
    key: fc.integer({ min: 0, max: 7 }),
    size: fc.integer({ min: 0, max: 40 }),
    client: fc.integer({ min: 1, max: 3 }),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(cmdArb, { minLength: 1, maxLength: 60, size: 'max' }),
      fc.nat(),
      fc.nat(),
      fc.integer({ min: 1, max: 64 }),
      async (cmds, cut, secondCut, slice) => {
        const at = cut % (cmds.length + 1);
        // A second capture open at the same time, taken at or after the first.
        const at2 = at + (secondCut % (cmds.length + 1 - at));
        const seqs = new Map<number, number>();
        const leases: number[] = [];
        const toCommand = (c: (typeof cmds)[number], i: number): Command => {
          const seq = (seqs.get(c.client) ?? 0) + 1;
          seqs.set(c.client, seq);
          const ids = { clientId: c.client, seq };
          const key = Buffer.from(`k${c.key}`);
          const value = Buffer.alloc(c.size, i);
          if (c.kind === 'delete') return { op: 'delete', key, ...ids };
          if (c.kind === 'leaseGrant') {
            leases.push(i);
            return { op: 'leaseGrant', ttlMs: 60_000, ...ids };
          }
          const lease = c.kind === 'putLease' ? leases[c.key % Math.max(1, leases.length)] : undefined;
          return lease === undefined
            ? { op: 'put', key, value, ...ids }
            : { op: 'put', key, value, lease, ...ids };
        };
        const commands = cmds.map((c, i) => toCommand(c, i + 1));
        // Tiny leaves and slabs: leaves split and merge, values move between slabs after the capture.
        const live = new KvState({ leafKeysMax: 3, slabs: { slabBytesMin: 64, slabBytesMax: 256 } });
        const upTo = new KvState();
        const upTo2 = new KvState();
        commands.forEach((c, i) => {
          if (i < at) upTo.apply(i + 1, c);
          if (i < at2) upTo2.apply(i + 1, c);
        });
        let view: KvSnapshotView | undefined;
        let view2: KvSnapshotView | undefined;
        commands.forEach((c, i) => {
          if (i === at) view = live.capture();
          if (i === at2) view2 = live.capture();
          live.apply(i + 1, c);
        });
        view ??= live.capture();
        view2 ??= live.capture();
        assert.equal(live.capturesOpen, 2);
        const expected = Buffer.from(upTo.serialize());
        assert.deepEqual(Buffer.from(view.serialize()), expected);
        const source = view.source(slice);
        assert.equal(source.totalBytes, expected.length);
        const parts: Buffer[] = [];
        let biggest = 0;
        for (let part = await source.next(); part !== undefined; part = await source.next()) {
          biggest = Math.max(biggest, part.byteLength);
          parts.push(Buffer.from(part)); // a copy: the next slice overwrites this one's buffer
        }
        const sliced = Buffer.concat(parts);
        assert.deepEqual(sliced, expected);
        // Slices stay within the buffer, unless one entry (or the tail) alone is larger.
        assert.ok(
          biggest <= Math.max(slice, largestPiece(expected)),
          `a slice of ${biggest} bytes for ${slice}`,
        );
        assert.deepEqual(KvState.restore(sliced).serialize(), upTo.serialize());
        source.close();
        assert.throws(() => view?.serialize(), /closed snapshot view/);
        assert.equal(live.capturesOpen, 1);
        // The other capture still holds its own moment, with more writes on top: new keys of every
        // size take whatever slots the first capture's close freed, none that the second holds.
        let next = commands.length;
        for (let i = 0; i < 41; i++) {
          live.apply(++next, {
            op: 'put',
            key: Buffer.from(i % 3 === 0 ? `k${i % 8}` : `new${i}`),
            value: Buffer.alloc(i, 0xee),
            clientId: 9,
            seq: next,
          });
        }
        live.apply(++next, { op: 'delete', key: Buffer.from('k1'), clientId: 9, seq: next });
        assert.deepEqual(Buffer.from(view2.serialize()), Buffer.from(upTo2.serialize()));
        view2.close();
        view2.close();
        assert.equal(live.capturesOpen, 0);
        live.serialize();
        assert.equal(live.capturesOpen, 0, 'serialize() closes its own capture');
      },
    ),
    { numRuns: 300 },
  );
});

/** The largest of a snapshot's pieces that a slice never splits: the header, an entry, the tail. */
function largestPiece(snapshot: Buffer): number {
  const count = Number(snapshot.readBigUInt64LE(16));
  let largest = 24;
  let p = 24;
  for (let i = 0; i < count; i++) {
    const start = p;
    p += 4 + snapshot.readUInt32LE(p);
    p += 12 + snapshot.readUInt32LE(p + 8);
    largest = Math.max(largest, p - start);
  }
  return Math.max(largest, snapshot.length - p);
}
