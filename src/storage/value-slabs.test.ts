import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { GARBAGE_SHARE, type StoredValue, ValueSlabs } from './value-slabs.ts';

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

test('once the garbage passes a slab and a quarter of the live bytes, the emptiest slab is emptied a few keys per write, then let go', () => {
  const slabs = new ValueSlabs({ slabBytesMin: 4096, slabBytesMax: 4096 });
  const h = harness(slabs);
  // 64 keys of 64 bytes fill a slab exactly: k0..k63 the first, k64..k127 the second, then a third.
  for (let i = 0; i < 192; i++) h.put(`k${i}`, Buffer.alloc(64, i), i + 1);
  const first = h.index.get('k0')!.slab;
  const second = h.index.get('k64')!.slab;
  assert.equal(h.index.get('k63')!.slab, first);
  assert.equal(slabs.stats.slabs, 3);
  // Overwrite the even keys with empty values (no bytes): half of the first two slabs becomes garbage.
  const home = (i: number) => (i < 64 ? first : i < 128 ? second : undefined);
  const moved = () => {
    for (let i = 1; i < 128; i += 2) if (h.index.get(`k${i}`)!.slab !== home(i)) return true;
    return false;
  };
  let version = 192;
  let writes = 0;
  for (let i = 0; i < 192 && !moved(); i += 2) {
    h.put(`k${i}`, Buffer.alloc(0), ++version);
    writes++;
  }
  // The 65th empty value makes 4,160 bytes of garbage: over a slab (4,096) and over a quarter of the live.
  assert.equal(writes, 65, 'the first move comes with the write that passes the bound');
  // The first slab is the emptiest (half live, the third almost all); MOVE_KEYS_PER_WRITE (32) of its 64 keys are looked
  // at per write: one write more empties it.
  assert.ok(first.live > 0);
  h.put('k130', Buffer.alloc(0), ++version);
  assert.equal(first.live, 0, 'emptied');
  assert.equal(second.live, 32 * 64, 'the second slab is not touched');
  for (let i = 1; i < 64; i += 2) {
    const v = h.index.get(`k${i}`)!;
    assert.notEqual(v.slab, first);
    assert.deepEqual(v.value, Buffer.alloc(64, i), `k${i}'s bytes`);
    assert.equal(v.version, i + 1, `k${i}'s version`);
  }
  assert.equal(slabs.stats.liveBytes, (192 - 66) * 64);
  assert.equal(slabs.stats.usedBytes, 192 * 64 + 32 * 64 - 64 * 64, 'the first slab no longer counted');
});

test('a capture holding old objects keeps their bytes through moves', () => {
  const slabs = new ValueSlabs({ slabBytesMin: 1024, slabBytesMax: 1024 });
  const h = harness(slabs);
  for (let i = 0; i < 64; i++) h.put(`k${i}`, Buffer.alloc(32, i), i + 1);
  const captured = new Map(h.index); // what KvState.capture keeps: the objects, not the bytes
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
});

test('a value over a sixteenth of the largest slab gets a slab of its own, let go when overwritten', () => {
  const slabs = new ValueSlabs({ slabBytesMin: 1024, slabBytesMax: 16 * 1024 });
  const h = harness(slabs);
  h.put('big', Buffer.alloc(1025, 1), 1);
  const own = h.index.get('big')!.slab;
  assert.equal(own.bytes.length, 1025);
  assert.deepEqual(slabs.stats, { liveBytes: 1025, usedBytes: 1025, slabs: 1 });
  h.put('big', Buffer.alloc(10, 2), 2);
  assert.deepEqual(slabs.stats, { liveBytes: 10, usedBytes: 10, slabs: 1 });
  assert.equal(own.live, 0);
});

test('an adopted buffer is read in place; one with only empty values is let go at once', () => {
  const slabs = new ValueSlabs();
  const bytes = Buffer.from('..abc..de');
  const keys: string[] = [];
  const a = slabs.adopt(bytes, keys);
  keys.push('x', 'y');
  const x = a.value(2, 3, 7);
  const y = a.value(7, 2, 8);
  a.end();
  assert.equal(x.value.buffer, bytes.buffer);
  assert.equal(x.value.toString(), 'abc');
  assert.equal(y.value.toString(), 'de');
  assert.ok(slabs.holds(bytes));
  assert.throws(() => a.value(8, 2, 9), /outside an adopted 9 bytes/);
  const empty = Buffer.from('....');
  const b = slabs.adopt(empty, ['z']);
  assert.equal(b.value(2, 0, 1).value.length, 0);
  b.end();
  assert.equal(slabs.holds(empty), false);
  slabs.release(x);
  slabs.release(y);
  assert.equal(slabs.holds(bytes), false, 'the last value released lets it go');
});
