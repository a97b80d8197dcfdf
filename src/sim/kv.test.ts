import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCommand, encodeCommand, KvStateMachine } from './kv.ts';

test('commands round-trip and apply with the documented semantics', () => {
  const kv = new KvStateMachine();
  const run = (seq: number, input: Parameters<typeof encodeCommand>[0]['input']) =>
    kv.apply(decodeCommand(encodeCommand({ clientId: 1, seq, input })));
  assert.deepEqual(run(1, { kind: 'cas', key: 'a', expected: null, value: 'x' }), {
    kind: 'cas',
    succeeded: true,
  });
  assert.deepEqual(run(2, { kind: 'cas', key: 'a', expected: 'y', value: 'z' }), {
    kind: 'cas',
    succeeded: false,
  });
  assert.deepEqual(run(3, { kind: 'append', key: 'a', value: '!' }), { kind: 'append' });
  assert.deepEqual(kv.read('a'), { kind: 'get', found: true, value: 'x!' });
  assert.deepEqual(run(4, { kind: 'delete', key: 'a' }), { kind: 'delete', deleted: true });
  assert.deepEqual(run(5, { kind: 'delete', key: 'a' }), { kind: 'delete', deleted: false });
  assert.deepEqual(kv.read('a'), { kind: 'get', found: false, value: '' });
});

test('a duplicated command takes effect once', () => {
  const kv = new KvStateMachine();
  const put = { clientId: 7, seq: 1, input: { kind: 'put', key: 'k', value: 'v1' } } as const;
  assert.deepEqual(kv.apply(put), { kind: 'put' });
  kv.apply({ clientId: 8, seq: 1, input: { kind: 'put', key: 'k', value: 'v2' } });
  assert.equal(kv.apply(put), 'duplicate');
  assert.deepEqual(kv.read('k'), { kind: 'get', found: true, value: 'v2' });
});

test('snapshots are deterministic bytes and restore the same state', () => {
  const a = new KvStateMachine();
  const b = new KvStateMachine();
  a.apply({ clientId: 1, seq: 1, input: { kind: 'put', key: 'x', value: '1' } });
  a.apply({ clientId: 2, seq: 1, input: { kind: 'put', key: 'a', value: '2' } });
  b.apply({ clientId: 2, seq: 1, input: { kind: 'put', key: 'a', value: '2' } });
  b.apply({ clientId: 1, seq: 1, input: { kind: 'put', key: 'x', value: '1' } });
  assert.deepEqual(a.serialize(), b.serialize(), 'insertion order does not matter');
  const c = KvStateMachine.deserialize(a.serialize());
  assert.deepEqual(c.serialize(), a.serialize());
  assert.equal(
    c.apply({ clientId: 1, seq: 1, input: { kind: 'delete', key: 'x' } }),
    'duplicate',
    'sessions survive',
  );
});
