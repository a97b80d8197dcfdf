// Transactions and range deletes applied to the KV state: all at one index, the compare kinds, the
// else branch, the counts, the at-most-once rule, and snapshots that keep later results the same.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeCommand, encodeCommand, type TxnCommand } from './command.ts';
import { KvState, prefixRange } from './kv-state.ts';
import type { TxnCompare, TxnOp } from './txn.ts';

const b = (s: string): Buffer => Buffer.from(s);
const ids = { clientId: 7 };

function txn(seq: number, compares: TxnCompare[], success: TxnOp[], otherwise: TxnOp[] = []): TxnCommand {
  return { op: 'txn', ...ids, seq, compares, success, failure: otherwise };
}

function seeded(): KvState {
  const s = new KvState();
  s.put(b('a'), b('1'), 1); // version 1
  s.put(b('b'), b('2'), 2); // version 2
  return s;
}

test('a transaction whose compares hold runs success: every write at the entry index, in order', () => {
  const s = seeded();
  const r = s.apply(
    3,
    txn(
      1,
      [
        { kind: 'value', key: b('a'), value: b('1') },
        { kind: 'version', key: b('b'), cmp: '=', version: 2 },
        { kind: 'exists', key: b('b') },
        { kind: 'absent', key: b('c') },
      ],
      [
        { op: 'put', key: b('a'), value: b('x') },
        { op: 'get', key: b('a') },
        { op: 'delete', key: b('b') },
        { op: 'delete', key: b('c') },
        { op: 'put', key: b('c'), value: b('y') },
      ],
      [{ op: 'get', key: b('a') }],
    ),
  );
  assert.deepEqual(r, {
    op: 'txn',
    succeeded: true,
    results: [
      { op: 'put', prevVersion: 1 },
      { op: 'get', found: true, value: b('x'), version: 3 },
      { op: 'delete', deleted: true },
      { op: 'delete', deleted: false },
      { op: 'put', prevVersion: 0 },
    ],
  });
  assert.equal(s.appliedIndex, 3);
  assert.deepEqual(s.get(b('c')), { value: b('y'), version: 3 });
  assert.equal(s.get(b('b')), undefined);
});

test('one compare that fails runs failure, and leaves no trace', () => {
  const s = seeded();
  const all = (): string => JSON.stringify(s.scan({ start: new Uint8Array(0) }, 100));
  const before = all();
  const r = s.apply(
    3,
    txn(
      1,
      [
        { kind: 'exists', key: b('a') },
        { kind: 'value', key: b('b'), value: b('not 2') },
      ],
      [{ op: 'put', key: b('a'), value: b('x') }],
      [
        { op: 'get', key: b('b') },
        { op: 'get', key: b('zz') },
      ],
    ),
  );
  assert.deepEqual(r, {
    op: 'txn',
    succeeded: false,
    results: [
      { op: 'get', found: true, value: b('2'), version: 2 },
      { op: 'get', found: false, value: new Uint8Array(0), version: 0 },
    ],
  });
  assert.equal(all(), before, 'the data is as before');
  assert.equal(s.appliedIndex, 3);
  assert.equal(s.appliedSeq(7), 1, 'the transaction counts as applied for its proposer');
});

test('each compare kind against a present key, an absent key and the version operators', () => {
  const s = seeded(); // a: version 1, b: version 2
  const cases: [TxnCompare, boolean][] = [
    [{ kind: 'exists', key: b('a') }, true],
    [{ kind: 'exists', key: b('q') }, false],
    [{ kind: 'absent', key: b('q') }, true],
    [{ kind: 'absent', key: b('a') }, false],
    [{ kind: 'value', key: b('a'), value: b('1') }, true],
    [{ kind: 'value', key: b('a'), value: b('11') }, false],
    [{ kind: 'value', key: b('q'), value: new Uint8Array(0) }, false],
    [{ kind: 'version', key: b('b'), cmp: '=', version: 2 }, true],
    [{ kind: 'version', key: b('b'), cmp: '!=', version: 2 }, false],
    [{ kind: 'version', key: b('b'), cmp: '<', version: 3 }, true],
    [{ kind: 'version', key: b('b'), cmp: '<', version: 2 }, false],
    [{ kind: 'version', key: b('b'), cmp: '>', version: 1 }, true],
    [{ kind: 'version', key: b('b'), cmp: '>', version: 2 }, false],
    [{ kind: 'version', key: b('q'), cmp: '=', version: 0 }, true],
    [{ kind: 'version', key: b('q'), cmp: '>', version: 0 }, false],
  ];
  let index = 3;
  for (const [i, [c, want]] of cases.entries()) {
    const r = s.apply(index++, txn(i + 1, [c], []));
    assert.ok(r?.op === 'txn', `case ${i}: ${JSON.stringify(r)}`);
    assert.equal(r.succeeded, want, `case ${i}: ${JSON.stringify(c)} on a@1=1, b@2=2`);
  }
});

test('a copy of an applied transaction is skipped: it takes effect at most once', () => {
  const s = seeded();
  const cmd = txn(
    5,
    [{ kind: 'version', key: b('a'), cmp: '<', version: 10 }],
    [{ op: 'put', key: b('a'), value: b('again') }],
  );
  assert.equal(s.apply(3, cmd)?.op, 'txn');
  assert.equal(s.apply(4, cmd), undefined, 'the copy is skipped');
  assert.deepEqual(s.get(b('a')), { value: b('again'), version: 3 });
  assert.equal(s.appliedIndex, 4);
});

test('a range delete removes exactly the keys of [start, end) and says how many', () => {
  const s = new KvState({ leafKeysMax: 4 }); // small leaves: the delete crosses leaves
  const keys = ['a', 'ap', 'app', 'apple', 'apq', 'b', 'ba', 'c', 'user/1', 'user/2', 'user0'];
  for (const [i, k] of keys.entries()) s.put(b(k), b(k), i + 1);
  let index = keys.length;
  const del = (start: string, end: string | null, seq: number): unknown =>
    s.apply(++index, { op: 'deleteRange', ...ids, seq, start: b(start), end: end === null ? null : b(end) });
  const pre = prefixRange(b('ap'));
  const r1 = s.apply(++index, { op: 'deleteRange', ...ids, seq: 1, start: pre.start, end: pre.end ?? null });
  assert.deepEqual(r1, { op: 'deleteRange', deleted: 4 }); // ap app apple apq
  assert.deepEqual(del('user/', 'user0', 2), { op: 'deleteRange', deleted: 2 });
  assert.deepEqual(del('b', 'b', 3), { op: 'deleteRange', deleted: 0 });
  assert.deepEqual(del('zz', null, 4), { op: 'deleteRange', deleted: 0 });
  const left = s.scan({ start: new Uint8Array(0) }, 100).items.map((i) => i.key.toString());
  assert.deepEqual(left, ['a', 'b', 'ba', 'c', 'user0']);
  assert.equal(s.count, 5);
  assert.equal(s.sizeBytes, 2 * (1 + 1 + 2 + 1 + 5));
  assert.deepEqual(del('', null, 5), { op: 'deleteRange', deleted: 5 });
  assert.equal(s.count, 0);
  assert.equal(s.sizeBytes, 0);
});

// A transaction or range delete applied after a snapshot and restore gives the same result and the
// same bytes as on the state that never went through one: what a replica restored from a snapshot
// must do for the shard's replicas to agree.
const byteArb = fc.constantFrom(0x61, 0x62, 0x63);
const keyArb = fc.array(byteArb, { minLength: 1, maxLength: 2 }).map((xs) => Buffer.from(xs));
const opArb: fc.Arbitrary<TxnOp> = fc.oneof(
  fc.record({ op: fc.constant('put' as const), key: keyArb, value: keyArb }),
  fc.record({ op: fc.constant('delete' as const), key: keyArb }),
  fc.record({ op: fc.constant('get' as const), key: keyArb }),
);
const compareArb: fc.Arbitrary<TxnCompare> = fc.oneof(
  fc.record({ kind: fc.constant('exists' as const), key: keyArb }),
  fc.record({ kind: fc.constant('absent' as const), key: keyArb }),
  fc.record({ kind: fc.constant('value' as const), key: keyArb, value: keyArb }),
  fc.record({
    kind: fc.constant('version' as const),
    key: keyArb,
    cmp: fc.constantFrom('=' as const, '!=' as const, '<' as const, '>' as const),
    version: fc.nat({ max: 12 }),
  }),
);
const commandArb = fc.oneof(
  fc.record({
    kind: fc.constant('txn' as const),
    compares: fc.array(compareArb, { maxLength: 3 }),
    success: fc.array(opArb, { maxLength: 4 }),
    failure: fc.array(opArb, { maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('range' as const), start: keyArb, end: fc.option(keyArb, { nil: null }) }),
);

test('snapshot round trip: the same commands give the same results and bytes on a restored state', () => {
  fc.assert(
    fc.property(fc.array(commandArb, { maxLength: 12 }), fc.nat({ max: 12 }), (cmds, cut) => {
      const plain = new KvState();
      let restored = new KvState();
      cmds.forEach((c, i) => {
        const cmd =
          c.kind === 'txn'
            ? {
                op: 'txn' as const,
                ...ids,
                seq: i + 1,
                compares: c.compares,
                success: c.success,
                failure: c.failure,
              }
            : { op: 'deleteRange' as const, ...ids, seq: i + 1, start: c.start, end: c.end };
        // Through the log's encoding, as the node applies it.
        const decoded = decodeCommand(encodeCommand(cmd));
        if (i === cut) restored = KvState.restore(restored.serialize());
        const want = JSON.stringify(plain.apply(i + 1, decoded));
        assert.equal(JSON.stringify(restored.apply(i + 1, decoded)), want, `command ${i}`);
      });
      assert.equal(
        Buffer.from(restored.serialize()).toString('hex'),
        Buffer.from(plain.serialize()).toString('hex'),
      );
    }),
    { numRuns: 300 },
  );
});
