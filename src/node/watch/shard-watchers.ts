// The watchers of one shard's replica on this node, and its event ring. The machine (kv-machine.ts)
// reports each applied entry's changes here, synchronously in log order; each watcher whose keys a
// change touches gets that entry's matching changes in one call. A watcher of one key is found by a
// map lookup; a watcher of a range is tested against each change. The ring records only while the
// shard is watched, and for `entriesMax` entries after its last watcher left (a client back soon,
// here, resumes from it); otherwise an entry costs nothing (the machine does not even collect its
// changes) and a start from the past is replayed from the snapshot (watches.ts). Recording always
// would keep every write's changes alive for a thousand entries: promoted by the GC, it cost puts
// ~10 % on the benchmark.
import type { KvChange } from '../../storage/kv-change.ts';
import { UnavailableError } from '../errors.ts';
import { type EntryChanges, EVENT_RING_DEFAULTS, EventRing, type EventRingBounds } from './event-ring.ts';
import { type WatchKeys, watches } from './match.ts';

/**
 * Where a watch's events go (the server's stream). Called on the node's thread, synchronously from
 * the apply path: must not throw, must not block.
 */
export interface WatchSink {
  /** The matching changes of the entry at `index`; false when the stream holds more than its bound. */
  entry(index: number, changes: readonly KvChange[]): boolean;
  /** Every matching change up to `index` was sent; false as for `entry`. */
  progress(index: number): boolean;
  /** The node ended the watch (a NodeError: retry-safe UNAVAILABLE, or WatchCompactedError). */
  end(err: Error): void;
}

export class Watcher {
  readonly shard: number;
  readonly keys: WatchKeys;
  readonly sink: WatchSink;
  /** Entries before it are not sent (already sent from the ring or a replay, or not asked for). */
  fromIndex: number;
  readonly progressIntervalMs: number;
  /** Set by each delivery, cleared by the progress timer (watches.ts): whether the watcher was idle. */
  delivered = false;
  /** When the watcher was last seen idle or sent a progress (the progress timer's clock). */
  quietSinceMs: number;
  /** Invariant: once true, the watcher is in no index and gets nothing more. */
  ended = false;

  constructor(
    shard: number,
    keys: WatchKeys,
    sink: WatchSink,
    fromIndex: number,
    progressIntervalMs: number,
    nowMs: number,
  ) {
    this.shard = shard;
    this.keys = keys;
    this.sink = sink;
    this.fromIndex = fromIndex;
    this.progressIntervalMs = progressIntervalMs;
    this.quietSinceMs = nowMs;
  }
}

/** Why a slow watcher's stream was ended: the client resumes from its last position. */
export function slowWatcher(shard: number): UnavailableError {
  return new UnavailableError(
    `shard ${shard}: the watch stream fell too far behind (the client did not read its events fast enough); resume from the last position received + 1`,
    { retrySafe: true },
  );
}

export class ShardWatchers {
  readonly ring: EventRing;
  /** Watchers of exactly one key, by the key as latin1 text. */
  private readonly byKey = new Map<string, Set<Watcher>>();
  /** Watchers of a range (or prefix). */
  private readonly ranges = new Set<Watcher>();
  private count = 0;
  /** Entries the ring still records with no watcher (set when the last one leaves). */
  private graceLeft = 0;
  private readonly graceEntries: number;
  /** Matched changes of the entry being delivered, per watcher: reused, cleared after each entry. */
  private readonly matched = new Map<Watcher, KvChange[]>();

  constructor(appliedIndex: number, bounds: EventRingBounds = EVENT_RING_DEFAULTS) {
    this.ring = new EventRing(appliedIndex, bounds);
    this.graceEntries = bounds.entriesMax;
  }

  get size(): number {
    return this.count;
  }

  /** Whether the next applied entry's changes are wanted (the ring records them). */
  get recording(): boolean {
    return this.count > 0 || this.graceLeft > 0;
  }

  add(w: Watcher): void {
    if (w.keys.kind === 'key') {
      const k = latin1(w.keys.key);
      let set = this.byKey.get(k);
      if (set === undefined) {
        set = new Set();
        this.byKey.set(k, set);
      }
      set.add(w);
    } else {
      this.ranges.add(w);
    }
    this.count++;
  }

  /** Takes `w` out (idempotent); it gets nothing more. */
  remove(w: Watcher): void {
    if (w.ended) return;
    w.ended = true;
    let gone = false;
    if (w.keys.kind === 'key') {
      const k = latin1(w.keys.key);
      const set = this.byKey.get(k);
      gone = set?.delete(w) === true;
      if (set !== undefined && set.size === 0) this.byKey.delete(k);
    } else {
      gone = this.ranges.delete(w);
    }
    if (gone) {
      this.count--;
      if (this.count === 0) this.graceLeft = this.graceEntries;
    }
  }

  /** Every watcher, for the progress timer. */
  *all(): IterableIterator<Watcher> {
    for (const set of this.byKey.values()) yield* set;
    yield* this.ranges;
  }

  /**
   * The entry at `index` was applied with `changes` (none: still recorded as covered). While not
   * `recording`, the changes were not collected: the ring passes the entry by.
   */
  applied(index: number, changes: readonly KvChange[]): void {
    if (this.count === 0) {
      if (this.graceLeft === 0) {
        this.ring.passed(index);
        return;
      }
      this.graceLeft--;
    }
    const e = this.ring.applied(index, changes);
    if (e === undefined || this.count === 0) return;
    this.deliver(e);
  }

  /** The state jumped (a snapshot installed): the ring restarts there and every watcher ends, retry-safe. */
  reset(appliedIndex: number, why: string): void {
    this.ring.reset(appliedIndex);
    this.endAll(new UnavailableError(why, { retrySafe: true }));
  }

  /** Ends every watcher with `err`. */
  endAll(err: Error): void {
    for (const w of [...this.all()]) {
      this.remove(w);
      w.sink.end(err);
    }
  }

  private deliver(e: EntryChanges): void {
    for (const c of e.changes) {
      if (this.byKey.size > 0) {
        const set = this.byKey.get(latin1(c.key));
        if (set !== undefined) for (const w of set) this.match(w, c);
      }
      for (const w of this.ranges) if (watches(w.keys, c.key)) this.match(w, c);
    }
    if (this.matched.size === 0) return;
    for (const [w, changes] of this.matched) {
      if (w.ended || e.index < w.fromIndex) continue;
      w.delivered = true;
      if (!w.sink.entry(e.index, changes)) {
        this.remove(w);
        w.sink.end(slowWatcher(w.shard));
      }
    }
    this.matched.clear();
  }

  private match(w: Watcher, c: KvChange): void {
    const list = this.matched.get(w);
    if (list === undefined) this.matched.set(w, [c]);
    else list.push(c);
  }
}

function latin1(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}
