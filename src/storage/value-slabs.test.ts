import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { GARBAGE_SHARE, type StoredValue, slotBytesFor, ValueSlabs } from './value-slabs.ts';

/** A map of keys to their stored values, written through `slabs` as KvState does. */
function harness(slabs: ValueSlabs) {
  const index = new Map<string, StoredValue>();
  return {
    index,
    put(k: string, bytes: Uint8Array, version: number) {
      const prev = index.get(k);
      index.set(k, slabs.store(k, bytes, version));
      if (prev !== undefined) slabs.release(prev);
      slabs.compactSome(index);
    },
    remove(k: string) {
      const prev = index.get(k);
      if (prev === undefined) return;
      index.delete(k);
      slabs.release(prev);
      slabs.compactSome(index);
    },
  };
}

test('values survive any writes, deletes and moves; the live bytes are counted exactly; the garbage stays bounded (fast-check)', () => {
  const SLAB_MAX = 2048;
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          k: fc.nat(40),
          len: fc.oneof(fc.nat(64), fc.integer({ min: 100, max: 300 })),
          del: fc.boolean(),
        }),
        { maxLength: 1500, size: 'max' },
      ),
      (ops) => {
        const slabs = new ValueSlabs({ slabBytesMin: 64, slabBytesMax: SLAB_MAX });
        const h = harness(slabs);
        const model = new Map<string, { bytes: Buffer; version: number }>();
        let version = 0;
        for (const o of ops) {
          const k = `key-${o.k}`;
          version++;
          if (o.del && o.len % 3 === 0) {
            h.remove(k);
            model.delete(k);
          } else {
            const bytes = Buffer.alloc(o.len, version % 256);
            h.put(k, bytes, version);
            bytes.fill(0); // the caller's bytes change after: the slab holds a copy
            model.set(k, { bytes: Buffer.alloc(o.len, version % 256), version });
          }
          const { liveBytes, usedBytes } = slabs.stats;
          let expected = 0;
          for (const m of model.values()) expected += m.bytes.length;
          assert.equal(liveBytes, expected, 'live bytes');
          // Garbage over the bound starts a move of one slab (at most SLAB_MAX, or one own-slab value).
          assert.ok(
            usedBytes - liveBytes <= liveBytes * GARBAGE_SHARE + 2 * SLAB_MAX + 300,
            `${usedBytes} bytes used for ${liveBytes} live`,
          );
        }
        assert.equal(h.index.size, model.size);
        for (const [k, m] of model) {
          const v = h.index.get(k)!;
          assert.deepEqual(v.value, m.bytes, k);
          assert.equal(v.version, m.version, k);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('once the garbage passes a slab and a quarter of the live bytes, the emptiest slab is emptied a few keys per write into free slots, then let go', () => {
  const slabs = new ValueSlabs({ slabBytesMin: 4096, slabBytesMax: 4096 });
  const h = harness(slabs);
  // 64 keys of 64 bytes fill a slab exactly: k0..k63 the first, k64..k127 the second, then a third.
  for (let i = 0; i < 192; i++) h.put(`k${i}`, Buffer.alloc(64, i), i + 1);
  const first = h.index.get('k0')!.slab;
  const second = h.index.get('k64')!.slab;
  const third = h.index.get('k128')!.slab;
  assert.equal(h.index.get('k63')!.slab, first);
  assert.equal(slabs.stats.slabs, 3);
  // Overwrite the even keys with empty values (no bytes): half of the first two slabs' slots are free.
  const home = (i: number) => (i < 64 ? first : i < 128 ? second : third);
  const moved = () => {
    for (let i = 1; i < 192; i += 2) if (h.index.get(`k${i}`)!.slab !== home(i)) return true;
    return false;
  };
  let version = 192;
  let writes = 0;
  for (let i = 0; i < 192 && !moved(); i += 2) {
    h.put(`k${i}`, Buffer.alloc(0), ++version);
    writes++;
  }
  // The 65th empty value frees 4,160 bytes: over a slab (4,096) and over a quarter of the live.
  assert.equal(writes, 65, 'the first move comes with the write that passes the bound');
  // The first slab is the emptiest (half live, as the second; the third almost all); MOVE_KEYS_PER_WRITE (32) of its 64
  // keys are looked at per write: one write more empties it, into the slots the others freed (newest first).
  assert.ok(first.live > 0);
  h.put('k130', Buffer.alloc(0), ++version);
  assert.equal(first.live, 0, 'emptied');
  assert.equal(third.live, 64 * 64, 'the third slab took back the two slots it freed');
  assert.equal(second.live, 62 * 64, 'the second 30 of the 32 it freed');
  for (let i = 1; i < 64; i += 2) {
    const v = h.index.get(`k${i}`)!;
    assert.notEqual(v.slab, first);
    assert.deepEqual(v.value, Buffer.alloc(64, i), `k${i}'s bytes`);
    assert.equal(v.version, i + 1, `k${i}'s version`);
  }
  assert.equal(slabs.stats.liveBytes, (192 - 66) * 64);
  assert.deepEqual(
    slabs.stats,
    { liveBytes: 126 * 64, usedBytes: 2 * 4096, slabs: 2 },
    'no new slab, the first let go',
  );
});

test('values of one size overwritten at random leave no garbage: each takes the slot the one before it freed', () => {
  const slabs = new ValueSlabs({ slabBytesMin: 1024, slabBytesMax: 8192 });
  const h = harness(slabs);
  for (let i = 0; i < 500; i++) h.put(`k${i}`, Buffer.alloc(100, i % 256), i + 1);
  const before = slabs.stats;
  assert.equal(before.usedBytes, 500 * slotBytesFor(100));
  let x = 7;
  for (let w = 0; w < 20_000; w++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    h.put(`k${x % 500}`, Buffer.alloc(100 - (w % 4), w % 256), 501 + w); // 97..100 bytes: one size class
  }
  assert.deepEqual(slabs.stats.slabs, before.slabs, 'no slab added');
  // A value is stored before the one it replaces is released: one slot more, ever.
  assert.equal(slabs.stats.usedBytes, before.usedBytes + slotBytesFor(100), 'one slot added');
});

test('a slot is rounded up at most an eighth of its value, to at least 32 bytes', () => {
  const seen = new Set<number>();
  for (let n = 1; n <= 70_000; n++) {
    const s = slotBytesFor(n);
    assert.ok(s >= n && s >= 32 && (n <= 32 ? s === 32 : s - n <= n / 8), `${n} bytes: a slot of ${s}`);
    seen.add(s);
  }
  assert.ok(seen.size < 150, `${seen.size} size classes`);
});

test('a capture holding old objects keeps their bytes through overwrites and moves while it holds the slabs; after, the slots released are taken again', () => {
  const slabs = new ValueSlabs({ slabBytesMin: 1024, slabBytesMax: 1024 });
  const h = harness(slabs);
  for (let i = 0; i < 64; i++) h.put(`k${i}`, Buffer.alloc(32, i), i + 1);
  const captured = new Map(h.index); // what KvState.capture keeps: the objects, not the bytes
  const unhold = slabs.hold();
  let version = 64;
  for (let r = 0; r < 50; r++)
    for (let i = 0; i < 64; i += 2) h.put(`k${i}`, Buffer.alloc(32, 200), ++version);
  for (let i = 0; i < 64; i++) {
    assert.deepEqual(captured.get(`k${i}`)!.value, Buffer.alloc(32, i), `k${i} as captured`);
    assert.deepEqual(h.index.get(`k${i}`)!.value, Buffer.alloc(32, i % 2 === 0 ? 200 : i), `k${i} now`);
  }
  assert.ok(
    [...h.index.values()].some((v, i) => i % 2 === 1 && v !== captured.get(`k${i}`)),
    'some key never written again was moved',
  );
  unhold();
  // Every slot released under the hold is free now: as many new keys take them all, and no more.
  const { usedBytes, liveBytes } = slabs.stats;
  for (let i = 0; i < (usedBytes - liveBytes) / 32; i++) h.put(`new${i}`, Buffer.alloc(32, 255), ++version);
  assert.deepEqual(
    slabs.stats,
    { usedBytes, liveBytes: usedBytes, slabs: slabs.stats.slabs },
    'no slot added',
  );
});

test('a slot released while holds are open is free once every hold open then has closed', () => {
  const slabs = new ValueSlabs({ slabBytesMin: 1024, slabBytesMax: 1024 });
  const h = harness(slabs);
  h.put('a', Buffer.alloc(32, 1), 1);
  h.put('b', Buffer.alloc(32, 2), 2);
  const used = slabs.stats.usedBytes;
  const first = slabs.hold();
  const aOld = h.index.get('a')!;
  h.put('a', Buffer.alloc(32, 3), 3); // a's first slot: released under `first`
  const second = slabs.hold();
  const bOld = h.index.get('b')!;
  h.put('b', Buffer.alloc(32, 4), 4); // b's first slot: released under both
  first();
  h.put('c', Buffer.alloc(32, 5), 5); // takes a's first slot: no hold open then is open now
  assert.equal(h.index.get('c')!.offset, aOld.offset);
  assert.deepEqual(
    aOld.value,
    Buffer.alloc(32, 5),
    "a's old object now reads c's bytes: what a hold keeps from a capture",
  );
  assert.deepEqual(bOld.value, Buffer.alloc(32, 2), 'b as `second` holds it');
  h.put('d', Buffer.alloc(32, 6), 6);
  assert.notEqual(h.index.get('d')!.offset, bOld.offset, 'not while `second` is open');
  second();
  second(); // closing twice changes nothing
  h.put('e', Buffer.alloc(32, 7), 7);
  assert.equal(h.index.get('e')!.offset, bOld.offset, 'free once `second` closed');
  assert.equal(slabs.stats.usedBytes, used + 3 * 32, 'c and e took freed slots, a, b and d fresh ones');
});

test('a value over a sixteenth of the largest slab gets a slab of its own, let go when overwritten', () => {
  const slabs = new ValueSlabs({ slabBytesMin: 1024, slabBytesMax: 16 * 1024 });
  const h = harness(slabs);
  h.put('big', Buffer.alloc(1025, 1), 1);
  const own = h.index.get('big')!.slab;
  assert.equal(own.bytes.length, 1025);
  assert.deepEqual(slabs.stats, { liveBytes: 1025, usedBytes: 1025, slabs: 1 });
  h.put('big', Buffer.alloc(10, 2), 2);
  assert.deepEqual(
    slabs.stats,
    { liveBytes: 10, usedBytes: 32, slabs: 1 },
    'a 32-byte slot of the smallest class',
  );
  assert.equal(own.live, 0);
});

test('an adopted buffer is read in place; one with only empty values is let go at once', () => {
  const slabs = new ValueSlabs();
  const bytes = Buffer.from('..abc..de');
  const keys: string[] = [];
  const a = slabs.adopt(bytes, keys);
  keys.push('x', 'y');
  const x = a.value('x', 2, 3, 7);
  const y = a.value('y', 7, 2, 8);
  a.end();
  assert.equal(x.value.buffer, bytes.buffer);
  assert.equal(x.value.toString(), 'abc');
  assert.equal(y.value.toString(), 'de');
  assert.equal(slabs.liveIn(bytes), 5);
  assert.throws(() => a.value('y', 8, 2, 9), /outside an adopted 9 bytes/);
  const empty = Buffer.from('....');
  const b = slabs.adopt(empty, ['z']);
  assert.equal(b.value('z', 2, 0, 1).value.length, 0);
  b.end();
  assert.equal(slabs.liveIn(empty), 0);
  slabs.release(x);
  slabs.release(y);
  assert.equal(slabs.liveIn(bytes), 0, 'the last value released lets it go');
  assert.deepEqual(slabs.stats, { liveBytes: 0, usedBytes: 0, slabs: 0 });
});
