// Each KV command takes effect at most once: a copy of one applied before, or a command its proposer
// sent after a later one, is skipped, the same way on every replica and across snapshots.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Command } from './command.ts';
import { KvState } from './kv-state.ts';
import { ProposerSessions, SESSIONS_MAX } from './proposer-sessions.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

function put(clientId: number, seq: number, key: string, value: string): Command {
  return { op: 'put', clientId, seq, key: enc.encode(key), value: enc.encode(value) };
}

function entryOf(s: KvState, key: string): { value: string; version: number } | undefined {
  const v = s.get(enc.encode(key));
  return v === undefined ? undefined : { value: dec.decode(v.value), version: v.version };
}

test('a copy of an applied command, and a command older than one applied, are skipped', () => {
  const s = new KvState();
  assert.deepEqual(s.apply(1, put(7, 1, 'k', 'a')), { op: 'put', prevVersion: 0 });
  assert.deepEqual(s.apply(2, put(8, 1, 'k', 'b')), { op: 'put', prevVersion: 1 });
  // The network delivered client 7's proposal twice, or it was proposed again: skipped, the entry applied.
  assert.equal(s.apply(3, put(7, 1, 'k', 'a')), undefined);
  assert.deepEqual(entryOf(s, 'k'), { value: 'b', version: 2 });
  assert.equal(s.appliedIndex, 3);
  // Seqs may skip (the proposer's other shards), never go back.
  assert.deepEqual(s.apply(4, put(7, 5, 'j', 'c')), { op: 'put', prevVersion: 0 });
  assert.equal(s.apply(5, put(7, 3, 'k', 'x')), undefined);
  assert.deepEqual(entryOf(s, 'k'), { value: 'b', version: 2 });
  assert.equal(s.appliedSeq(7), 5);
  assert.equal(s.appliedSeq(8), 1);
  assert.equal(s.appliedSeq(9), 0);
});

test('the sessions travel in the snapshot: a copy after a restore is still skipped', () => {
  const s = new KvState();
  s.apply(1, put(7, 4, 'k', 'a'));
  s.apply(2, put(9, 1, 'k', 'b'));
  const r = KvState.restore(s.serialize());
  assert.equal(r.appliedSeq(7), 4);
  assert.equal(r.apply(3, put(7, 4, 'k', 'a')), undefined);
  assert.equal(s.apply(3, put(7, 4, 'k', 'a')), undefined);
  assert.deepEqual(entryOf(r, 'k'), { value: 'b', version: 2 });
  assert.deepEqual(Buffer.from(r.serialize()), Buffer.from(s.serialize()));
});

test('a snapshot of the format before sessions (version 1) is still read, with no sessions', () => {
  const s = new KvState();
  s.put(enc.encode('k'), enc.encode('v'), 1);
  const v3 = Buffer.from(s.serialize());
  // Version 1 is version 3 without the sessions' count and the leases' count (0 each here) at the end.
  const v1 = Buffer.from(v3.subarray(0, v3.length - 8));
  v1.writeUInt16LE(1, 4);
  const r = KvState.restore(v1);
  assert.deepEqual(entryOf(r, 'k'), { value: 'v', version: 1 });
  assert.equal(r.appliedSeq(7), 0);
  assert.throws(() => KvState.restore(v3.subarray(0, v3.length - 1)), /malformed/);
});

test(`at most ${SESSIONS_MAX} proposers are remembered: the one applied least recently is forgotten`, () => {
  const sessions = new ProposerSessions();
  for (let c = 1; c <= SESSIONS_MAX; c++) assert.ok(sessions.admit(c, 1, c));
  // Client 1 applies again, so client 2 is now the least recent.
  assert.ok(sessions.admit(1, 2, SESSIONS_MAX + 1));
  assert.ok(sessions.admit(SESSIONS_MAX + 1, 1, SESSIONS_MAX + 2));
  assert.equal(sessions.size, SESSIONS_MAX);
  assert.equal(sessions.seqOf(2), 0);
  assert.equal(sessions.seqOf(1), 2);
  assert.equal(sessions.seqOf(3), 1);
});

test('the planted bug applyDuplicates applies the copy', () => {
  const s = new KvState({ unsafeApplyDuplicates: true });
  s.apply(1, put(7, 1, 'k', 'a'));
  s.apply(2, put(8, 1, 'k', 'b'));
  assert.deepEqual(s.apply(3, put(7, 1, 'k', 'a')), { op: 'put', prevVersion: 2 });
  assert.deepEqual(entryOf(s, 'k'), { value: 'a', version: 3 });
});

test('replicas applying the same log reach the same bytes, whatever copies and reorderings it holds', () => {
  const cmd = fc.record({ clientId: fc.integer({ min: 1, max: 4 }), seq: fc.integer({ min: 1, max: 6 }) });
  fc.assert(
    fc.property(fc.array(cmd, { maxLength: 40 }), (log) => {
      const a = new KvState();
      let b = new KvState();
      const seen = new Map<number, number>();
      log.forEach((c, i) => {
        const ra = a.apply(i + 1, put(c.clientId, c.seq, `k${c.seq % 3}`, `${c.clientId}:${c.seq}`));
        b.apply(i + 1, put(c.clientId, c.seq, `k${c.seq % 3}`, `${c.clientId}:${c.seq}`));
        // Applied exactly when the seq is above every earlier one of its proposer.
        assert.equal(ra !== undefined, c.seq > (seen.get(c.clientId) ?? 0));
        if (ra !== undefined) seen.set(c.clientId, c.seq);
        // Half way, b goes through a snapshot, as a replica that caught up by one does.
        if (i === Math.floor(log.length / 2)) b = KvState.restore(b.serialize());
      });
      assert.deepEqual(Buffer.from(a.serialize()), Buffer.from(b.serialize()));
      assert.deepEqual(Buffer.from(KvState.restore(a.serialize()).serialize()), Buffer.from(a.serialize()));
    }),
  );
});
