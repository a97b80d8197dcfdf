// The watch machinery of one node without a network: matching, the event ring's bounds, the replay
// of the log over the snapshot (a repeated command gives no event), the compacted refusal, progress
// on a manual clock, a slow watcher cut, and the cost of 1,000 idle watchers (printed, not asserted).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialSnapshot } from '../../raft/storage.ts';
import type { Entry, Snapshot } from '../../raft/types.ts';
import { index, term } from '../../raft/types.ts';
import { encodeCommand } from '../../storage/command.ts';
import type { KvChange } from '../../storage/kv-change.ts';
import { prefixRange } from '../../storage/kv-state.ts';
import { WatchCompactedError } from '../errors.ts';
import { KvMachine } from '../kv-machine.ts';
import { ManualClock } from '../manual-clock.ts';
import { EventRing } from './event-ring.ts';
import { watches } from './match.ts';
import { replayChanges } from './replay.ts';
import type { WatchSink } from './shard-watchers.ts';
import { type WatchedShard, Watches } from './watches.ts';

const b = (s: string): Uint8Array => Buffer.from(s);
const put = (clientId: number, seq: number, key: string, value: string): Uint8Array =>
  encodeCommand({ op: 'put', clientId, seq, key: b(key), value: b(value) });
const del = (clientId: number, seq: number, key: string): Uint8Array =>
  encodeCommand({ op: 'delete', clientId, seq, key: b(key) });
const entry = (i: number, data: Uint8Array): Entry => ({
  index: index(i),
  term: term(1),
  type: 'normal',
  data,
});

/** A sink that records what it gets; `room` false makes it report a full stream. */
class Recorder implements WatchSink {
  got: { index: number; changes: readonly KvChange[] }[] = [];
  progressed: number[] = [];
  ended: Error | undefined;
  room = true;
  entry(i: number, changes: readonly KvChange[]): boolean {
    this.got.push({ index: i, changes });
    return this.room;
  }
  progress(i: number): boolean {
    this.progressed.push(i);
    return this.room;
  }
  end(err: Error): void {
    this.ended = err;
  }
}

/** A shard replica: a machine applying `log` from index 1, a snapshot taken at `snapAt` (0: none). */
function replica(log: readonly Uint8Array[], snapAt = 0) {
  const machine = new KvMachine();
  let snapshot: Snapshot = initialSnapshot([]);
  const entries: Entry[] = [];
  let applied = 0;
  const apply = (data: Uint8Array): void => {
    applied++;
    entries.push(entry(applied, data));
    machine.apply(index(applied), data);
    if (applied === snapAt)
      snapshot = {
        ...snapshot,
        metadata: { ...snapshot.metadata, index: index(applied) },
        data: machine.snapshot(),
      };
  };
  for (const d of log) apply(d);
  const shard: WatchedShard = {
    watchers: machine.watchers,
    applied: () => applied,
    snapshotIndex: () => snapshot.metadata.index,
    snapshot: () => snapshot,
    entries: (lo, hi) => entries.filter((e) => e.index >= lo && e.index < hi),
  };
  return { machine, shard, apply };
}

describe('watch', () => {
  it('matches one key exactly, and a prefix as its range', () => {
    assert.equal(watches({ kind: 'key', key: b('a') }, b('a')), true);
    assert.equal(watches({ kind: 'key', key: b('a') }, b('ab')), false);
    const p = { kind: 'range' as const, range: prefixRange(b('ab')) };
    assert.equal(watches(p, b('ab')), true);
    assert.equal(watches(p, b('abz')), true);
    assert.equal(watches(p, b('ac')), false);
    assert.equal(watches(p, b('aa')), false);
  });

  it('the event ring keeps at most its bound of entries and covers only what it keeps', () => {
    const ring = new EventRing(0, { entriesMax: 3, bytesMax: 1 << 20 });
    const ch: KvChange = { type: 'put', key: b('k'), value: b('v'), prev: undefined };
    for (let i = 1; i <= 5; i++) ring.applied(i, [ch]);
    assert.equal(ring.size(), 3);
    assert.equal(ring.coveredFrom, 3);
    assert.equal(ring.since(2), undefined);
    assert.deepEqual(
      ring.since(4)?.map((e) => e.index),
      [4, 5],
    );
    ring.applied(6, []); // an entry with no change: covered, not kept
    assert.deepEqual(ring.since(6), []);
  });

  it('replays the log over the snapshot with exact previous values, and a repeated command gives no event', () => {
    const snap = new KvMachine();
    snap.apply(index(1), put(7, 1, 'a', 'one'));
    const log = [
      entry(2, put(7, 2, 'a', 'two')),
      entry(3, put(7, 2, 'a', 'two')), // the same command again (a re-proposed copy): skipped
      entry(4, del(7, 3, 'a')),
      entry(5, put(7, 4, 'b', 'other')),
    ];
    const r = replayChanges(snap.snapshot(), log, 2, { kind: 'key', key: b('a') }, 1 << 20);
    assert.equal(r.complete, true);
    assert.deepEqual(
      r.entries.map((e) => [
        e.index,
        e.changes.map((c) => [c.type, Buffer.from(c.value).toString(), c.prev?.version]),
      ]),
      [
        [2, [['put', 'two', 1]]],
        [4, [['delete', '', 2]]],
      ],
    );
  });

  it('records changes only while the shard is watched, and for the ring bound of entries after', () => {
    const { machine, shard, apply } = replica([put(1, 1, 'x', '1'), put(1, 2, 'y', '2')]);
    const ring = machine.watchers.ring;
    // Unwatched: nothing collected, nothing kept, and the ring covers only what comes next.
    assert.equal(machine.state.onChange, undefined);
    assert.equal(ring.size(), 0);
    assert.equal(ring.coveredFrom, 3);
    const w = new Watches(new ManualClock(0), () => shard);
    const h = w.start(
      { shard: 1, keys: { kind: 'key', key: b('x') }, fromIndex: 0, progressIntervalMs: 1000 },
      new Recorder(),
    );
    apply(put(1, 3, 'x', '3'));
    apply(put(1, 4, 'y', '4'));
    assert.equal(ring.size(), 2);
    h.cancel();
    // The last watcher left: the ring goes on for its bound (1,024 entries), so a client back soon
    // resumes from it; then it lets entries pass.
    for (let i = 5; i <= 4 + 1024; i++) apply(put(1, i, 'z', `${i}`));
    assert.equal(ring.size(), 1024);
    assert.equal(ring.since(5)?.length, 1024);
    apply(put(1, 1029, 'z', 'last'));
    assert.equal(ring.size(), 0);
    assert.equal(ring.coveredFrom, 1030);
    assert.equal(machine.state.onChange, undefined);
  });

  it('serves a backlog (replayed: nobody watched), then live events, then progress when idle', () => {
    const { shard, apply } = replica([put(1, 1, 'x', '1'), put(1, 2, 'y', '2'), put(1, 3, 'x', '3')]);
    const clock = new ManualClock(0);
    const w = new Watches(clock, () => shard);
    const rec = new Recorder();
    const h = w.start(
      { shard: 1, keys: { kind: 'key', key: b('x') }, fromIndex: 2, progressIntervalMs: 200 },
      rec,
    );
    assert.deepEqual(
      rec.got.map((g) => g.index),
      [3],
    );
    assert.deepEqual(rec.progressed, [3]);
    apply(put(1, 4, 'y', '4'));
    apply(put(1, 5, 'x', '5'));
    assert.deepEqual(
      rec.got.map((g) => g.index),
      [3, 5],
    );
    clock.advance(1000);
    assert.ok(rec.progressed.length >= 2 && rec.progressed.at(-1) === 5, `progress ${rec.progressed}`);
    h.cancel();
    apply(put(1, 6, 'x', '6'));
    assert.deepEqual(
      rec.got.map((g) => g.index),
      [3, 5],
    );
  });

  it('replays from the snapshot when the ring is past, and refuses a start before the snapshot as compacted', () => {
    const log = Array.from({ length: 1500 }, (_, i) => put(1, i + 1, `k${i % 10}`, `v${i}`));
    const { shard } = replica(log, 100);
    const w = new Watches(new ManualClock(0), () => shard);
    const rec = new Recorder();
    w.start({ shard: 1, keys: { kind: 'key', key: b('k3') }, fromIndex: 200, progressIntervalMs: 1000 }, rec);
    assert.equal(rec.ended, undefined);
    assert.equal(rec.got[0]?.index, 204); // entry i+1 writes k(i % 10): k3 at 4, 14, …, 204
    assert.equal(rec.got.at(-1)?.index, 1494);
    assert.equal(rec.got[0]?.changes[0]?.prev?.version, 194);
    assert.throws(
      () =>
        w.start(
          { shard: 1, keys: { kind: 'key', key: b('k3') }, fromIndex: 50, progressIntervalMs: 1000 },
          new Recorder(),
        ),
      (e: unknown) =>
        e instanceof WatchCompactedError && e.oldestIndex === 101 && /compacted/.test(e.message),
    );
  });

  it('ends a watcher whose stream is full, retry-safe', () => {
    const { shard, apply } = replica([]);
    const w = new Watches(new ManualClock(0), () => shard);
    const rec = new Recorder();
    w.start(
      {
        shard: 1,
        keys: { kind: 'range', range: prefixRange(b('')) },
        fromIndex: 0,
        progressIntervalMs: 1000,
      },
      rec,
    );
    rec.room = false;
    apply(put(1, 1, 'a', 'x'));
    apply(put(1, 2, 'b', 'x'));
    assert.equal(rec.got.length, 1);
    assert.match(String(rec.ended), /fell too far behind/);
  });

  it('1,000 idle watchers on one shard: measured (memory, time per applied entry), never asserted', () => {
    const { shard, apply } = replica([]);
    const clock = new ManualClock(0);
    const w = new Watches(clock, () => shard);
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1000; i++)
      w.start(
        { shard: 1, keys: { kind: 'key', key: b(`idle/${i}`) }, fromIndex: 0, progressIntervalMs: 1000 },
        new Recorder(),
      );
    const heapBytes = process.memoryUsage().heapUsed - before;
    const n = 20_000;
    const t0 = performance.now();
    for (let i = 1; i <= n; i++) apply(put(2, i, `busy/${i % 100}`, 'v'));
    const perEntryUs = ((performance.now() - t0) * 1000) / n;
    assert.equal(w.size, 1000);
    console.log(
      `1,000 idle key watchers: ~${Math.round(heapBytes / 1024)} KiB of heap; ${perEntryUs.toFixed(2)} µs per applied entry (non-matching)`,
    );
  });
});
