// One Raft node as a test driver sees it: a RawNode, its MemoryStorage, and a toy state machine
// (the list of applied normal entries). `handleReady` is the driver's Ready loop written once, in
// the documented order: persist, hand out messages, apply, advance. Both the transcript harness
// and the paper tests use it, so both exercise the driver contract the same way.

import type { Config, Storage } from '../index.ts';
import { decodeConfChange, MemoryStorage, RawNode } from '../index.ts';
import type { ConfState, Entry, Index, NodeId, Ready, Snapshot } from '../types.ts';
import { index, term } from '../types.ts';
import { bytesToText } from './format.ts';
import { rngFor } from './rng.ts';

const encoder = new TextEncoder();

export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

export interface NodeOptions {
  readonly id: NodeId;
  readonly seed: number;
  readonly stream: number;
  /** Extra Config fields (timeouts, flow control, preVote, …). */
  readonly config?: Partial<Omit<Config, 'id' | 'storage' | 'rng'>>;
  /** False: the core sees only snapshots made by compact() (default: on demand, see storageView). */
  readonly snapshotOnDemand?: boolean;
  /** Boot from a snapshot at this index carrying this configuration (index >= 1). */
  readonly bootstrap?: { readonly index: Index; readonly confState: ConfState };
}

export interface ApplyEvents {
  readonly confChanges: { readonly entry: Entry; readonly confState: ConfState }[];
}

export class TestNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  readonly config: Config;
  rn: RawNode;
  /** The state machine: data of applied non-empty normal entries, with the index they came from. */
  history: { index: Index; data: string }[] = [];
  appliedIndex: Index = index(0);
  /** Configurations by the index at which they took effect, for snapshots at older indexes. */
  confHistory: { index: Index; confState: ConfState }[] = [];

  constructor(opts: NodeOptions) {
    this.id = opts.id;
    this.storage = new MemoryStorage();
    if (opts.bootstrap !== undefined) {
      const { index: at, confState } = opts.bootstrap;
      this.storage.applySnapshot({ metadata: { index: at, term: term(1), confState }, data: bytes('[]') });
      this.appliedIndex = at;
      this.confHistory.push({ index: at, confState });
    }
    this.config = {
      ...opts.config,
      id: opts.id,
      storage: opts.snapshotOnDemand === false ? this.storage : this.storageView(),
      rng: rngFor(opts.seed, opts.stream),
    };
    this.rn = new RawNode({ ...this.config, applied: this.appliedIndex });
  }

  /**
   * What the core reads. Like etcd's rafttest (snapOverrideStorage) and etcd's server (which
   * merges its current state into outgoing snapshots), snapshot() describes the state machine
   * as applied NOW, with the configuration in force now: a snapshot made before a node was
   * added would not include it, and a follower ignores a snapshot that does not list it.
   */
  private storageView(): Storage {
    const st = this.storage;
    return {
      initialState: () => st.initialState(),
      entries: (lo, hi, maxBytes) => st.entries(lo, hi, maxBytes),
      term: (i) => st.term(i),
      firstIndex: () => st.firstIndex(),
      lastIndex: () => st.lastIndex(),
      snapshot: () => {
        const held = st.snapshot();
        const at = this.appliedIndex;
        if (at <= held.metadata.index || at > st.lastIndex()) return held;
        return {
          metadata: { index: at, term: st.term(at), confState: this.confStateAt(at) },
          data: this.stateBytes(at),
        };
      },
    };
  }

  /** The state machine at index i (<= applied), serialised. */
  private stateBytes(i: Index): Uint8Array {
    return bytes(JSON.stringify(this.history.filter((h) => h.index <= i).map((h) => h.data)));
  }

  /** Crash and restart from what storage holds (the state machine restarts from the snapshot). */
  restart(): void {
    const snap = this.storage.snapshot();
    this.restoreStateMachine(snap);
    this.rn = new RawNode({ ...this.config, applied: this.appliedIndex });
  }

  /** Persist, collect messages, apply, advance: one turn of the driver loop. */
  handleReady(): { rd: Ready; events: ApplyEvents } {
    const rd = this.rn.ready();
    if (rd.snapshot !== undefined) this.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) this.storage.append(rd.entries);
    if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
    if (rd.snapshot !== undefined) this.restoreStateMachine(rd.snapshot);
    const events: ApplyEvents = { confChanges: [] };
    for (const e of rd.committedEntries) this.apply(e, events);
    this.rn.advance(rd);
    return { rd, events };
  }

  private apply(e: Entry, events: ApplyEvents): void {
    if (e.index !== this.appliedIndex + 1) {
      throw new Error(
        `node ${this.id}: applying index ${e.index} after ${this.appliedIndex} (gap or repeat)`,
      );
    }
    this.appliedIndex = e.index;
    if (e.type === 'confChange') {
      const confState = this.rn.applyConfChange(decodeConfChange(e.data));
      this.confHistory.push({ index: e.index, confState });
      events.confChanges.push({ entry: e, confState });
    } else if (e.data.length > 0) {
      this.history.push({ index: e.index, data: bytesToText(e.data) });
    }
  }

  private restoreStateMachine(snap: Snapshot): void {
    const parsed: unknown = JSON.parse(bytesToText(snap.data.length === 0 ? bytes('[]') : snap.data));
    if (!Array.isArray(parsed)) throw new Error(`node ${this.id}: snapshot data is not a JSON array`);
    const at = snap.metadata.index;
    this.history = parsed.map((d) => ({ index: at, data: String(d) }));
    this.appliedIndex = at;
    this.confHistory = [{ index: at, confState: snap.metadata.confState }];
  }

  /** The configuration in force at index i (the latest applied at or before i). */
  confStateAt(i: Index): ConfState {
    let found: ConfState | undefined;
    for (const c of this.confHistory) if (c.index <= i) found = c.confState;
    if (found === undefined) throw new Error(`node ${this.id}: no configuration known at index ${i}`);
    return found;
  }

  /** Snapshot at i (<= applied) then drop the log up to i. */
  compact(i: Index): void {
    if (i > this.appliedIndex)
      throw new Error(`node ${this.id}: compact(${i}) beyond applied ${this.appliedIndex}`);
    this.storage.createSnapshot(i, this.confStateAt(i), this.stateBytes(i));
    this.storage.compact(i);
  }

  appliedData(): string[] {
    return this.history.map((h) => h.data);
  }
}
