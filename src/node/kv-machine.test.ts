import assert from 'node:assert/strict';
import { test } from 'node:test';
import { index } from '../raft/types.ts';
import { type Command, encodeCommand } from '../storage/command.ts';
import { KvMachine } from './kv-machine.ts';

const b = (s: string) => Buffer.from(s);

test('size counts live keys and their key plus value bytes through puts, overwrites and deletes', () => {
  const m = new KvMachine();
  let seq = 0;
  const apply = (cmd: { op: 'put'; key: Buffer; value: Buffer } | { op: 'delete'; key: Buffer }) => {
    seq++;
    const full: Command = { ...cmd, clientId: 1, seq };
    m.apply(index(seq), encodeCommand(full));
  };
  assert.deepEqual(m.size(), { keys: 0, bytes: 0 });
  apply({ op: 'put', key: b('a'), value: b('xyz') });
  apply({ op: 'put', key: b('bb'), value: b('1') });
  assert.deepEqual(m.size(), { keys: 2, bytes: 1 + 3 + 2 + 1 });
  apply({ op: 'put', key: b('a'), value: b('x') });
  assert.deepEqual(m.size(), { keys: 2, bytes: 1 + 1 + 2 + 1 });
  apply({ op: 'delete', key: b('bb') });
  assert.deepEqual(m.size(), { keys: 1, bytes: 2 });
  // A snapshot carries the state; the restored machine counts the same.
  const copy = new KvMachine();
  copy.restore(m.snapshot());
  assert.deepEqual(copy.size(), { keys: 1, bytes: 2 });
});
