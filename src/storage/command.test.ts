import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type Command,
  CommandInvalidError,
  decodeCommand,
  encodeCommand,
  KEY_BYTES_MAX,
  VALUE_BYTES_MAX,
} from './command.ts';
import { TXN_OPS_MAX, type TxnCompare, type TxnOp, VERSION_CMPS } from './txn.ts';

const id = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const key = fc.uint8Array({ minLength: 1, maxLength: 64 });
const value = fc.uint8Array({ maxLength: 128 });

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constant('put' as const), clientId: id, seq: id, key, value }),
  fc.record({ op: fc.constant('delete' as const), clientId: id, seq: id, key }),
  fc.record({
    op: fc.constant('cas' as const),
    clientId: id,
    seq: id,
    key,
    expect: fc.oneof(
      fc.constant({ kind: 'absent' as const }),
      fc.record({ kind: fc.constant('value' as const), value }),
      fc.record({ kind: fc.constant('version' as const), version: id }),
    ),
    value: fc.option(value, { nil: null }),
  }),
  fc.record({
    op: fc.constant('txn' as const),
    clientId: id,
    seq: id,
    compares: fc.array(compareArb(), { maxLength: 5 }),
    success: fc.array(txnOpArb(), { maxLength: 5 }),
    failure: fc.array(txnOpArb(), { maxLength: 5 }),
  }),
  fc.record({
    op: fc.constant('deleteRange' as const),
    clientId: id,
    seq: id,
    start: fc.uint8Array({ maxLength: 8 }),
    end: fc.option(key, { nil: null }),
  }),
);

function compareArb(): fc.Arbitrary<TxnCompare> {
  return fc.oneof(
    fc.record({ kind: fc.constant('exists' as const), key }),
    fc.record({ kind: fc.constant('absent' as const), key }),
    fc.record({ kind: fc.constant('value' as const), key, value }),
    fc.record({
      kind: fc.constant('version' as const),
      key,
      cmp: fc.constantFrom(...VERSION_CMPS),
      version: id,
    }),
  );
}

function txnOpArb(): fc.Arbitrary<TxnOp> {
  return fc.oneof(
    fc.record({ op: fc.constant('put' as const), key, value }),
    fc.record({ op: fc.constant('delete' as const), key }),
    fc.record({ op: fc.constant('get' as const), key }),
  );
}

/** Plain, comparable form: byte arrays as hex. */
function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return Buffer.from(x).toString('hex');
  if (x !== null && typeof x === 'object') {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v)]));
  }
  return x;
}

test('commands round-trip through their binary encoding', () => {
  fc.assert(
    fc.property(commandArb, (cmd) => {
      assert.deepEqual(plain(decodeCommand(encodeCommand(cmd))), plain(cmd));
    }),
    { numRuns: 500 },
  );
});

test('every strict prefix of an encoded command, and any extra byte, is rejected with a typed error', () => {
  fc.assert(
    fc.property(commandArb, fc.nat(), (cmd, at) => {
      const bytes = encodeCommand(cmd);
      const cut = bytes.subarray(0, at % bytes.length);
      assert.throws(() => decodeCommand(cut), CommandInvalidError);
      assert.throws(() => decodeCommand(Buffer.concat([bytes, Buffer.of(0)])), CommandInvalidError);
    }),
    { numRuns: 300 },
  );
});

test('bad fields are refused when encoding', () => {
  const base = { op: 'delete' as const, clientId: 1, seq: 1 };
  assert.throws(() => encodeCommand({ ...base, key: new Uint8Array() }), /1 to 4096 bytes/);
  assert.throws(
    () => encodeCommand({ ...base, key: new Uint8Array(KEY_BYTES_MAX + 1) }),
    CommandInvalidError,
  );
  assert.throws(() => encodeCommand({ ...base, seq: -1, key: Buffer.from('k') }), /seq -1/);
  assert.throws(() => encodeCommand({ ...base, clientId: 0.5, key: Buffer.from('k') }), /clientId 0.5/);
  const k = Buffer.from('k');
  const big = new Uint8Array(VALUE_BYTES_MAX + 1);
  const ids = { clientId: 1, seq: 1 };
  assert.throws(() => encodeCommand({ op: 'put', ...ids, key: k, value: big }), /exceeds/);
  const cas = { op: 'cas' as const, ...ids, key: k };
  assert.throws(() => encodeCommand({ ...cas, expect: { kind: 'absent' }, value: big }), /exceeds/);
  const expectBig = { kind: 'value' as const, value: big };
  assert.throws(() => encodeCommand({ ...cas, expect: expectBig, value: null }), /exceeds/);
  assert.ok(
    encodeCommand({ ...cas, expect: { kind: 'absent' }, value: big.subarray(1) }).length > VALUE_BYTES_MAX,
  );
  assert.equal(encodeCommand({ ...base, key: Buffer.from('k') }).length, 2 + 16 + 4 + 1);
});

test('a transaction beyond its bounds, or with an empty key, is refused when encoding', () => {
  const ids = { clientId: 1, seq: 1, compares: [] };
  const get: TxnOp = { op: 'get', key: Buffer.from('k') };
  const many = Array.from({ length: TXN_OPS_MAX + 1 }, () => get);
  assert.throws(
    () => encodeCommand({ op: 'txn', ...ids, success: many, failure: [] }),
    /success has 129 operations/,
  );
  assert.throws(
    () => encodeCommand({ op: 'txn', ...ids, success: [], failure: [{ op: 'get', key: new Uint8Array() }] }),
    /1 to 4096 bytes/,
  );
  const range = { op: 'deleteRange' as const, clientId: 1, seq: 1, start: new Uint8Array() };
  assert.equal(encodeCommand({ ...range, end: null }).length, 2 + 16 + 4 + 1);
  assert.throws(() => encodeCommand({ ...range, end: new Uint8Array() }), /1 to 4096 bytes/);
});
