import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Command, decodeCommand, encodeCommand } from './command.ts';
import type { KvChange } from './kv-change.ts';
import { type ApplyResult, KvState } from './kv-state.ts';
import { KEYS_PER_LEASE_MAX } from './leases.ts';

const b = (s: string): Uint8Array => Buffer.from(s);
let seq = 0;

/** Applies `body` through the command encoding, as an entry of the log would be. */
function apply(st: KvState, index: number, body: Record<string, unknown>): ApplyResult {
  seq++;
  const cmd = decodeCommand(encodeCommand({ clientId: 1, seq, ...body } as Command));
  const r = st.apply(index, cmd);
  assert.ok(r !== undefined);
  return r;
}

function changesOf(st: KvState, run: () => void): string[] {
  const out: string[] = [];
  st.onChange = (c: KvChange) => out.push(`${c.type} ${Buffer.from(c.key).toString()}`);
  run();
  st.onChange = undefined;
  return out;
}

test('a lease is named by its grant entry; revoke deletes its keys as deletes a watcher sees, and only them', () => {
  const st = new KvState();
  assert.deepEqual(apply(st, 1, { op: 'leaseGrant', ttlMs: 3000 }), {
    op: 'leaseGrant',
    lease: 1,
    ttlMs: 3000,
  });
  apply(st, 2, { op: 'put', key: b('a'), value: b('1'), lease: 1 });
  apply(st, 3, { op: 'put', key: b('b'), value: b('2'), lease: 1 });
  apply(st, 4, { op: 'put', key: b('c'), value: b('3') });
  assert.equal(st.leaseOf(b('a')), 1);
  assert.deepEqual(st.leases.keysOf(1), ['a', 'b']);
  let result: ApplyResult | undefined;
  const changes = changesOf(st, () => {
    result = apply(st, 5, { op: 'leaseRevoke', lease: 1 });
  });
  assert.deepEqual(result, { op: 'leaseRevoke', found: true, deleted: 2 });
  assert.deepEqual(changes, ['delete a', 'delete b']);
  assert.equal(st.get(b('a')), undefined);
  assert.equal(st.get(b('b')), undefined);
  assert.ok(st.get(b('c')) !== undefined);
  assert.equal(st.leases.size, 0);
  assert.deepEqual(apply(st, 6, { op: 'leaseRevoke', lease: 1 }), {
    op: 'leaseRevoke',
    found: false,
    deleted: 0,
  });
});

test('a put without the lease, a delete, a range delete, a txn delete and another lease detach a key', () => {
  const st = new KvState();
  apply(st, 1, { op: 'leaseGrant', ttlMs: 3000 });
  apply(st, 2, { op: 'leaseGrant', ttlMs: 3000 });
  for (const [i, k] of ['p', 'd', 'r', 't', 'm'].entries())
    apply(st, 3 + i, { op: 'put', key: b(k), value: b('v'), lease: 1 });
  apply(st, 10, { op: 'put', key: b('p'), value: b('plain') });
  apply(st, 11, { op: 'delete', key: b('d') });
  apply(st, 12, { op: 'deleteRange', start: b('r'), end: b('s') });
  apply(st, 13, { op: 'txn', compares: [], success: [{ op: 'delete', key: b('t') }], failure: [] });
  apply(st, 14, { op: 'put', key: b('m'), value: b('v'), lease: 2 });
  assert.deepEqual(st.leases.keysOf(1), []);
  assert.deepEqual(st.leases.keysOf(2), ['m']);
  apply(st, 15, { op: 'put', key: b('d'), value: b('again') });
  apply(st, 16, { op: 'leaseRevoke', lease: 1 });
  assert.equal(st.get(b('p'))?.version, 10, 'a key detached by a put survives its old lease');
  assert.equal(st.get(b('d'))?.version, 15, 'a key re-created without the lease survives it');
  assert.ok(st.get(b('m')) !== undefined);
});

test('a put naming an unknown or full lease writes nothing; grants past the bound are refused', () => {
  const st = new KvState();
  assert.deepEqual(apply(st, 1, { op: 'put', key: b('k'), value: b('v'), lease: 7 }), {
    op: 'put',
    prevVersion: 0,
    refused: 'leaseNotFound',
  });
  assert.equal(st.get(b('k')), undefined);
  apply(st, 2, { op: 'leaseGrant', ttlMs: 1000 });
  let i = 3;
  for (let n = 0; n < KEYS_PER_LEASE_MAX; n++)
    apply(st, i++, { op: 'put', key: b(`k${n}`), value: b(''), lease: 2 });
  const full = apply(st, i++, { op: 'put', key: b('one-more'), value: b(''), lease: 2 });
  assert.deepEqual(full, { op: 'put', prevVersion: 0, refused: 'leaseFull' });
  assert.equal(st.get(b('one-more')), undefined);
  // Rewriting a key the lease already holds is no new key.
  const again = apply(st, i++, { op: 'put', key: b('k0'), value: b('x'), lease: 2 });
  assert.equal(again.op === 'put' && again.refused, undefined);
});

test('snapshot version 3 round-trips the leases; version 2 bytes are still read, without leases', () => {
  const st = new KvState();
  apply(st, 1, { op: 'put', key: b('z'), value: b('plain') });
  const v2like = Buffer.from(st.serialize());
  apply(st, 2, { op: 'leaseGrant', ttlMs: 5000 });
  apply(st, 3, { op: 'leaseGrant', ttlMs: 2000 });
  apply(st, 4, { op: 'put', key: b('b'), value: b('1'), lease: 2 });
  apply(st, 5, { op: 'put', key: b('a'), value: b('2'), lease: 2 });
  apply(st, 6, { op: 'put', key: b('c'), value: b('3'), lease: 3 });
  const bytes = st.serialize();
  assert.equal(Buffer.from(bytes).readUInt16LE(4), 3);
  const back = KvState.restore(bytes);
  assert.deepEqual(Buffer.from(back.serialize()), Buffer.from(bytes));
  assert.deepEqual(
    [...back.leases.ttls()],
    [
      [2, 5000],
      [3, 2000],
    ],
  );
  assert.deepEqual(back.leases.keysOf(2), ['a', 'b']);
  assert.equal(back.leaseOf(b('c')), 3);
  // Revoking in the restored state deletes the keys there too.
  apply(back, 7, { op: 'leaseRevoke', lease: 2 });
  assert.equal(back.get(b('a')), undefined);
  assert.equal(back.count, 2);

  // A version 2 snapshot: the same layout without the lease section.
  assert.equal(v2like.readUInt32LE(v2like.length - 4), 0, 'no leases at index 1');
  const v2 = v2like.subarray(0, v2like.length - 4);
  v2.writeUInt16LE(2, 4);
  const old = KvState.restore(v2);
  assert.equal(old.get(b('z'))?.version, 1);
  assert.equal(old.leases.size, 0);
  assert.throws(() => KvState.restore(bytes.subarray(0, bytes.length - 1)), /malformed/);
});

test("a transaction's put attaches its key to a lease (through the log's encoding); a revoke then deletes it", () => {
  const st = new KvState();
  apply(st, 1, { op: 'leaseGrant', ttlMs: 3000 });
  const r = apply(st, 2, {
    op: 'txn',
    compares: [{ kind: 'absent', key: b('lock') }],
    success: [
      { op: 'put', key: b('lock'), value: b('me'), lease: 1 },
      { op: 'put', key: b('plain'), value: b('x') },
    ],
    failure: [],
  });
  assert.deepEqual(r, {
    op: 'txn',
    succeeded: true,
    results: [
      { op: 'put', prevVersion: 0 },
      { op: 'put', prevVersion: 0 },
    ],
  });
  assert.equal(st.leaseOf(b('lock')), 1);
  assert.equal(st.leaseOf(b('plain')), 0);
  // A transaction's put without a lease detaches the key, as a put does.
  apply(st, 3, {
    op: 'txn',
    compares: [],
    success: [{ op: 'put', key: b('lock'), value: b('me2') }],
    failure: [],
  });
  assert.equal(st.leaseOf(b('lock')), 0);
  apply(st, 4, {
    op: 'txn',
    compares: [],
    success: [{ op: 'put', key: b('lock'), value: b('me3'), lease: 1 }],
    failure: [],
  });
  apply(st, 5, { op: 'leaseRevoke', lease: 1 });
  assert.equal(st.get(b('lock')), undefined);
  assert.ok(st.get(b('plain')) !== undefined);
});

test('a transaction naming an unknown lease, or filling one past its bound, writes nothing', () => {
  const st = new KvState();
  apply(st, 1, { op: 'put', key: b('k'), value: b('before') });
  const unknown = apply(st, 2, {
    op: 'txn',
    compares: [],
    success: [
      { op: 'delete', key: b('k') },
      { op: 'put', key: b('new'), value: b('v'), lease: 77 },
    ],
    failure: [],
  });
  assert.deepEqual(unknown, { op: 'txn', succeeded: false, results: [], refused: 'leaseNotFound' });
  assert.equal(
    Buffer.from(st.get(b('k'))?.value ?? []).toString(),
    'before',
    'the delete before it did not run',
  );
  assert.equal(st.get(b('new')), undefined);
  assert.equal(st.appliedIndex, 2);

  apply(st, 3, { op: 'leaseGrant', ttlMs: 3000 });
  let index = 4;
  for (let i = 0; i < KEYS_PER_LEASE_MAX - 1; i++)
    apply(st, index++, { op: 'put', key: b(`f${i}`), value: b('x'), lease: 3 });
  // One key left on the lease: two new keys in one transaction are one too many; a key already on it is not new.
  const full = apply(st, index++, {
    op: 'txn',
    compares: [],
    success: [
      { op: 'put', key: b('g1'), value: b('x'), lease: 3 },
      { op: 'put', key: b('g2'), value: b('x'), lease: 3 },
    ],
    failure: [],
  });
  assert.deepEqual(full, { op: 'txn', succeeded: false, results: [], refused: 'leaseFull' });
  assert.equal(st.get(b('g1')), undefined);
  const fits = apply(st, index++, {
    op: 'txn',
    compares: [],
    success: [
      { op: 'put', key: b('f0'), value: b('again'), lease: 3 },
      { op: 'put', key: b('g1'), value: b('x'), lease: 3 },
    ],
    failure: [],
  });
  assert.equal(fits.op === 'txn' && fits.succeeded, true);
  assert.equal(st.leases.keysOf(3).length, KEYS_PER_LEASE_MAX);
});
