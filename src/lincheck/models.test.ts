import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kvModel, partitionByKey, registerModel, stringKvModel } from './models.ts';
import type { KvInput, KvOperation, KvOutput, RegisterInput, RegisterOutput } from './types.ts';

const reg = (state: number | null, input: RegisterInput, output: RegisterOutput | undefined) =>
  registerModel.step(state, input, output);

test('register: starts at NIL; a read of NIL needs exists=false, a read of V needs exists=true and V', () => {
  assert.equal(registerModel.init(), null);
  assert.deepEqual(reg(null, { kind: 'read' }, { kind: 'read', exists: false, value: 0 }), {
    legal: true,
    next: null,
  });
  assert.equal(reg(null, { kind: 'read' }, { kind: 'read', exists: true, value: 0 }).legal, false);
  assert.equal(reg(3, { kind: 'read' }, { kind: 'read', exists: true, value: 3 }).legal, true);
  assert.equal(reg(3, { kind: 'read' }, { kind: 'read', exists: true, value: 4 }).legal, false);
  assert.equal(reg(3, { kind: 'read' }, { kind: 'read', exists: false, value: 3 }).legal, false);
  assert.deepEqual(reg(3, { kind: 'read' }, undefined), { legal: true, next: 3 });
});

test('register: write always applies; cas applies iff from matches and its ok must say so', () => {
  assert.deepEqual(reg(null, { kind: 'write', value: 4 }, { kind: 'write' }), { legal: true, next: 4 });
  assert.deepEqual(reg(1, { kind: 'cas', from: 1, to: 2 }, { kind: 'cas', ok: true }), {
    legal: true,
    next: 2,
  });
  assert.equal(reg(1, { kind: 'cas', from: 1, to: 2 }, { kind: 'cas', ok: false }).legal, false);
  assert.deepEqual(reg(0, { kind: 'cas', from: 1, to: 2 }, { kind: 'cas', ok: false }), {
    legal: true,
    next: 0,
  });
  assert.equal(reg(0, { kind: 'cas', from: 1, to: 2 }, { kind: 'cas', ok: true }).legal, false);
  assert.equal(reg(null, { kind: 'cas', from: 0, to: 2 }, { kind: 'cas', ok: true }).legal, false);
});

test('register: an unknown cas is legal either way and still changes the state when from matches', () => {
  assert.deepEqual(reg(1, { kind: 'cas', from: 1, to: 2 }, undefined), { legal: true, next: 2 });
  assert.deepEqual(reg(5, { kind: 'cas', from: 1, to: 2 }, undefined), { legal: true, next: 5 });
  assert.deepEqual(reg(5, { kind: 'write', value: 7 }, undefined), { legal: true, next: 7 });
});

test('register: state keys distinguish NIL from every number', () => {
  assert.notEqual(registerModel.key(null), registerModel.key(0));
  assert.equal(registerModel.key(12), registerModel.key(12));
  assert.equal(
    registerModel.describeOperation?.({ kind: 'cas', from: 1, to: 2 }, { kind: 'cas', ok: false }),
    'cas(1, 2) -> fail',
  );
});

const kv = (state: string | null, input: KvInput, output: KvOutput | undefined) =>
  kvModel.step(state, input, output);
const get = (key: string): KvInput => ({ kind: 'get', key });

test('kv: absent and the empty string are different states', () => {
  assert.equal(kvModel.init(), null);
  assert.equal(kv(null, get('k'), { kind: 'get', found: false, value: '' }).legal, true);
  assert.equal(kv(null, get('k'), { kind: 'get', found: true, value: '' }).legal, false);
  assert.equal(kv('', get('k'), { kind: 'get', found: true, value: '' }).legal, true);
  assert.equal(kv('', get('k'), { kind: 'get', found: false, value: '' }).legal, false);
  assert.equal(kv('v', get('k'), { kind: 'get', found: true, value: 'w' }).legal, false);
  assert.notEqual(kvModel.key(null), kvModel.key(''));
});

test('kv: put, append (creates an absent key), delete reports whether the key existed', () => {
  assert.deepEqual(kv(null, { kind: 'put', key: 'k', value: 'a' }, { kind: 'put' }), {
    legal: true,
    next: 'a',
  });
  assert.deepEqual(kv(null, { kind: 'append', key: 'k', value: 'x' }, { kind: 'append' }), {
    legal: true,
    next: 'x',
  });
  assert.deepEqual(kv('a', { kind: 'append', key: 'k', value: 'b' }, { kind: 'append' }), {
    legal: true,
    next: 'ab',
  });
  assert.deepEqual(kv('a', { kind: 'delete', key: 'k' }, { kind: 'delete', deleted: true }), {
    legal: true,
    next: null,
  });
  assert.equal(kv(null, { kind: 'delete', key: 'k' }, { kind: 'delete', deleted: true }).legal, false);
  assert.deepEqual(kv(null, { kind: 'delete', key: 'k' }, { kind: 'delete', deleted: false }), {
    legal: true,
    next: null,
  });
});

test('kv: cas with expected null means "key absent"; an unknown cas applies when it matches', () => {
  const casAbsent: KvInput = { kind: 'cas', key: 'k', expected: null, value: 'v' };
  assert.deepEqual(kv(null, casAbsent, { kind: 'cas', succeeded: true }), { legal: true, next: 'v' });
  assert.equal(kv('', casAbsent, { kind: 'cas', succeeded: true }).legal, false);
  assert.deepEqual(kv('', casAbsent, { kind: 'cas', succeeded: false }), { legal: true, next: '' });
  const casA: KvInput = { kind: 'cas', key: 'k', expected: 'a', value: 'b' };
  assert.deepEqual(kv('a', casA, { kind: 'cas', succeeded: true }), { legal: true, next: 'b' });
  assert.equal(kv(null, casA, { kind: 'cas', succeeded: true }).legal, false);
  assert.deepEqual(kv('a', casA, undefined), { legal: true, next: 'b' });
  assert.deepEqual(kv('z', casA, undefined), { legal: true, next: 'z' });
});

test('jepsen-kv string model: state starts "", get compares the value only, append concatenates', () => {
  const s = (state: string, input: KvInput, output: KvOutput | undefined) =>
    stringKvModel.step(state, input, output);
  assert.equal(stringKvModel.init(), '');
  assert.equal(s('', get('k'), { kind: 'get', found: true, value: '' }).legal, true);
  assert.equal(s('', get('k'), { kind: 'get', found: false, value: '' }).legal, true);
  assert.equal(s('', get('k'), { kind: 'get', found: true, value: 'x' }).legal, false);
  assert.deepEqual(s('x 0 0 y', { kind: 'append', key: 'k', value: 'x 0 3 y' }, { kind: 'append' }), {
    legal: true,
    next: 'x 0 0 yx 0 3 y',
  });
  assert.deepEqual(s('abc', { kind: 'put', key: 'k', value: 'z' }, { kind: 'put' }), {
    legal: true,
    next: 'z',
  });
});

test('partitionByKey: one part per key, in first-seen order, each keeping the original order', () => {
  const op = (key: string, t: number): KvOperation => ({
    clientId: 0,
    input: get(key),
    output: undefined,
    callTime: t,
    returnTime: t + 1,
  });
  const ops = [op('a', 0), op('b', 2), op('a', 4), op('c', 6), op('b', 8)];
  const parts = partitionByKey(ops);
  assert.deepEqual(
    parts.map((p) => p.map((o) => `${o.input.key}${o.callTime}`)),
    [['a0', 'a4'], ['b2', 'b8'], ['c6']],
  );
});
