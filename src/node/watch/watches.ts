// Every watch served by this node: opening one on a shard's replica (its backlog from the event ring
// or a replay of the log since the snapshot, then live from the apply path, with no gap and no
// repeat: all of it runs synchronously between two applies), progress for the idle ones on the
// node's Clock, and ending them all when the node closes.
import type { Entry, Snapshot } from '../../raft/types.ts';
import type { Clock, Timer } from '../clock.ts';
import { UnavailableError, WatchCompactedError } from '../errors.ts';
import type { EntryChanges } from './event-ring.ts';
import { type WatchKeys, watches } from './match.ts';
import { replayChanges } from './replay.ts';
import { type ShardWatchers, slowWatcher, Watcher, type WatchSink } from './shard-watchers.ts';

/** What a watch needs of a hosted shard replica (the node's group and its machine). */
export interface WatchedShard {
  readonly watchers: ShardWatchers;
  /** The replica's applied index (no-op and configuration entries included). */
  applied(): number;
  /** The index of the replica's latest snapshot. */
  snapshotIndex(): number;
  /**
   * The replica's latest snapshot (its state machine's bytes at its index). Throws
   * SnapshotTemporarilyUnavailableError while its bytes are read back from disk.
   */
  snapshot(): Snapshot;
  /** The log's entries in [lo, hi) (all held: lo is after the snapshot, hi - 1 applied). */
  entries(lo: number, hi: number): Entry[];
}

export interface WatchSpec {
  readonly shard: number;
  readonly keys: WatchKeys;
  /** The first position to send; 0: the replica's next applied entry. */
  readonly fromIndex: number;
  readonly progressIntervalMs: number;
}

/** How often idle watchers are looked at; a progress goes out within this of its interval. */
export const PROGRESS_TICK_MS = 100;
export const PROGRESS_INTERVAL_MIN_MS = 100;
/** Watchers one node serves at most: each costs a stream and a few hundred bytes here. */
export const WATCHERS_MAX = 100_000;
/** The backlog a replay gathers at most before it sends it and ends the stream (the client resumes). */
const REPLAY_BYTES_MAX = 8 * 1024 * 1024;

export interface WatchHandle {
  /** Stops the watch (the client went away); idempotent. */
  cancel(): void;
}

export class Watches {
  private readonly clock: Pick<Clock, 'nowMs' | 'every' | 'cancel'>;
  private readonly lookup: (shard: number) => WatchedShard | undefined;
  /** Every open watcher. Invariant: none has ended (an ended one is taken out at once). */
  private readonly open = new Set<Watcher>();
  /** Set while any watcher is open. */
  private timer: Timer | undefined;
  private closed = false;

  constructor(
    clock: Pick<Clock, 'nowMs' | 'every' | 'cancel'>,
    lookup: (shard: number) => WatchedShard | undefined,
  ) {
    this.clock = clock;
    this.lookup = lookup;
  }

  get size(): number {
    return this.open.size;
  }

  /**
   * Starts a watch: its backlog (positions from `spec.fromIndex` to the applied index) goes to `sink`
   * at once, then a progress, then every new matching entry as it is applied. Throws (nothing sent)
   * a retry-safe UnavailableError when the shard has no replica here, WatchCompactedError when the
   * start is older than what the replica keeps, SnapshotTemporarilyUnavailableError when the
   * backlog replays from the snapshot and its bytes are on disk (start again once they are back).
   */
  start(spec: WatchSpec, sink: WatchSink): WatchHandle {
    if (this.closed) throw new UnavailableError('the node is shutting down', { retrySafe: true });
    if (this.open.size >= WATCHERS_MAX)
      throw new UnavailableError(`this node serves ${WATCHERS_MAX} watches already; try another node`, {
        retrySafe: true,
      });
    const shard = this.lookup(spec.shard);
    if (shard === undefined)
      throw new UnavailableError(`shard ${spec.shard} has no replica on this node`, { retrySafe: true });
    const applied = shard.applied();
    const from = spec.fromIndex === 0 ? applied + 1 : spec.fromIndex;
    const w = new Watcher(spec.shard, spec.keys, sink, from, spec.progressIntervalMs, this.clock.nowMs());
    let complete = true;
    if (from <= applied) {
      const backlog = this.backlog(shard, spec, from, applied);
      complete = backlog.complete;
      for (const e of backlog.entries) {
        if (!sink.entry(e.index, e.changes)) {
          complete = false;
          break;
        }
      }
    }
    if (!complete || !sink.progress(applied)) {
      // Part of the backlog went; the rest is the client's to ask for from where it got to.
      sink.end(slowWatcher(spec.shard));
      return { cancel: () => {} };
    }
    w.fromIndex = Math.max(from, applied + 1);
    shard.watchers.add(w);
    this.open.add(w);
    this.timer ??= this.clock.every(PROGRESS_TICK_MS, () => this.tick());
    return { cancel: () => this.stop(w, shard.watchers) };
  }

  /** Ends every watch (retry-safe: the client resumes elsewhere) and refuses new ones. */
  close(): void {
    this.closed = true;
    const err = new UnavailableError('the node is shutting down; resume the watch on another node', {
      retrySafe: true,
    });
    for (const w of [...this.open]) {
      this.stopAt(w);
      w.sink.end(err);
    }
  }

  private backlog(
    shard: WatchedShard,
    spec: WatchSpec,
    from: number,
    applied: number,
  ): { entries: EntryChanges[]; complete: boolean } {
    const recent = shard.watchers.ring.since(from);
    if (recent !== undefined) return { entries: matching(recent, spec.keys), complete: true };
    const snapIndex = shard.snapshotIndex();
    if (from <= snapIndex) {
      const oldest = Math.min(shard.watchers.ring.coveredFrom, snapIndex + 1);
      throw new WatchCompactedError(spec.shard, from, oldest);
    }
    const snap = shard.snapshot();
    const log = shard.entries(snapIndex + 1, applied + 1);
    return replayChanges(snap.data, log, from, spec.keys, REPLAY_BYTES_MAX);
  }

  private stop(w: Watcher, watchers: ShardWatchers): void {
    watchers.remove(w);
    this.stopAt(w);
  }

  private stopAt(w: Watcher): void {
    w.ended = true;
    this.open.delete(w);
    if (this.open.size === 0 && this.timer !== undefined) {
      this.clock.cancel(this.timer);
      this.timer = undefined;
    }
  }

  /** Sends a progress to each watcher idle for its interval; forgets those their shard ended. */
  private tick(): void {
    const now = this.clock.nowMs();
    for (const w of [...this.open]) {
      if (w.ended) {
        this.stopAt(w);
        continue;
      }
      if (w.delivered) {
        w.delivered = false;
        w.quietSinceMs = now;
        continue;
      }
      if (now - w.quietSinceMs < w.progressIntervalMs) continue;
      w.quietSinceMs = now;
      const shard = this.lookup(w.shard);
      if (shard === undefined) {
        this.stopAt(w);
        w.sink.end(
          new UnavailableError(`shard ${w.shard} has no replica on this node any more`, { retrySafe: true }),
        );
      } else if (!w.sink.progress(shard.applied())) {
        this.stop(w, shard.watchers);
        w.sink.end(slowWatcher(w.shard));
      }
    }
  }
}

function matching(entries: readonly EntryChanges[], keys: WatchKeys): EntryChanges[] {
  const out: EntryChanges[] = [];
  for (const e of entries) {
    const changes = e.changes.filter((c) => watches(keys, c.key));
    if (changes.length > 0) out.push({ index: e.index, changes, bytes: e.bytes });
  }
  return out;
}
