// The snapshots a node holds for backups: chunked at any offset up to the end, ended by the chunk
// that reaches the end, bounded in number, forgotten after their idle time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SESSION_IDLE_MS, SESSIONS_MAX, ShardSnapshotSessions } from './shard-snapshot.ts';

function sessions(): { s: ShardSnapshotSessions; clock: { nowMs: number } } {
  const clock = { nowMs: 1_000 };
  return { s: new ShardSnapshotSessions(() => clock.nowMs), clock };
}

const snapshot = (shard: number, data: Uint8Array) => ({
  shard,
  data,
  appliedIndex: 7,
  term: 2,
  crc32: 0,
  keys: 1,
});

describe('shard snapshot sessions', () => {
  it('hands out the bytes in chunks; the chunk that reaches the end ends the session', () => {
    const { s } = sessions();
    const id = s.open(snapshot(3, Buffer.from('0123456789')));
    assert.deepEqual(Buffer.from(s.chunk(id, 3, 0, 4).data).toString(), '0123');
    assert.deepEqual(Buffer.from(s.chunk(id, 3, 4, 4).data).toString(), '4567');
    // A chunk whose answer was lost is asked for again.
    assert.deepEqual(Buffer.from(s.chunk(id, 3, 4, 4).data).toString(), '4567');
    assert.equal(s.size, 1);
    assert.deepEqual(Buffer.from(s.chunk(id, 3, 8, 4).data).toString(), '89');
    assert.equal(s.size, 0);
    assert.throws(() => s.chunk(id, 3, 10, 4), /no snapshot session .* of shard 3/);
  });

  it('an empty snapshot is one empty chunk', () => {
    const { s } = sessions();
    const id = s.open(snapshot(1, new Uint8Array(0)));
    assert.equal(s.chunk(id, 1, 0, 1024).data.byteLength, 0);
    assert.equal(s.size, 0);
  });

  it('refuses another shard, an offset past the end, a non-integer offset', () => {
    const { s } = sessions();
    const id = s.open(snapshot(2, Buffer.from('abc')));
    assert.throws(() => s.chunk(id, 1, 0, 4), /no snapshot session .* of shard 1/);
    assert.throws(() => s.chunk(id, 2, 4, 4), /offset 4 is outside the snapshot's 3 bytes/);
    assert.throws(() => s.chunk(id, 2, 0.5, 4), /offset 0.5/);
    assert.equal(s.chunk(id, 2, 3, 4).data.byteLength, 0, 'the end itself is a valid (empty) last chunk');
  });

  it(`holds at most ${SESSIONS_MAX} snapshots; one idle for ${SESSION_IDLE_MS} ms is forgotten`, () => {
    const { s, clock } = sessions();
    const ids = Array.from({ length: SESSIONS_MAX }, (_, i) => s.open(snapshot(i + 1, Buffer.from('xy'))));
    assert.throws(() => s.open(snapshot(9, Buffer.from('z'))), /already holds 4 shard snapshots/);
    clock.nowMs += SESSION_IDLE_MS - 1;
    s.chunk(ids[0]!, 1, 0, 1); // used: its idle time starts again
    clock.nowMs += 1;
    assert.equal(s.chunk(ids[0]!, 1, 1, 1).data.byteLength, 1);
    assert.throws(() => s.chunk(ids[1]!, 2, 0, 1), /idle for 60 s/);
    assert.equal(s.size, 0);
    s.open(snapshot(9, Buffer.from('z')));
    assert.equal(s.size, 1);
  });
});
