// The durable storage of one simulated node. Writes (hard state, entries, snapshots) are buffered
// until sync(); a crash keeps only what was synced plus possibly a prefix of the unsynced writes
// (written in order, one record per entry, so the last entries write may be torn part-way). Restart
// rebuilds the core's MemoryStorage from what survived. The disk also asserts that the persisted
// hard state never regresses, which catches drivers and cores that forget a vote or a term.
import { MemoryStorage } from '../raft/index.ts';
import type { Entry, HardState, NodeId, Snapshot } from '../raft/types.ts';
import { index, NO_NODE, term } from '../raft/types.ts';
import type { Prng } from './prng.ts';
import { SimViolation } from './violation.ts';

export type DiskWrite =
  | { readonly kind: 'hardState'; readonly hardState: HardState }
  | { readonly kind: 'entries'; readonly entries: readonly Entry[] }
  | { readonly kind: 'snapshot'; readonly snapshot: Snapshot };

export interface DurableState {
  hardState: HardState;
  snapshot: Snapshot | undefined;
  /**
   * Contiguous entries. They start at or before snapshot index + 1: a local snapshot may keep some
   * entries it covers (compaction lag), so followers can still be caught up from the log.
   */
  entries: Entry[];
}

/** Bound on buffered unsynced writes: the driver syncs at least every Ready that must sync. */
const PENDING_WRITES_MAX = 100_000;

export const EMPTY_HARD_STATE: HardState = { term: term(0), vote: NO_NODE, commit: index(0) };

export class SimDisk {
  readonly owner: NodeId;
  private durable: DurableState;
  private pending: DiskWrite[] = [];
  /**
   * Parallel to `pending`: the write must be durable before anything depending on it is sent
   * (entries, snapshots, a new term or vote), and whether something was already sent (exposed).
   */
  private pendingFlags: { mustSync: boolean; exposed: boolean }[] = [];
  /** The last hard state handed to write(), synced or not: what regression is checked against. */
  private lastWritten: HardState;
  stats = { writes: 0, syncs: 0, crashes: 0, lostWrites: 0, tornWrites: 0 };

  constructor(owner: NodeId, initial?: DurableState) {
    this.owner = owner;
    this.durable = initial ?? { hardState: EMPTY_HARD_STATE, snapshot: undefined, entries: [] };
    this.lastWritten = this.durable.hardState;
  }

  write(w: DiskWrite): void {
    if (this.pending.length >= PENDING_WRITES_MAX)
      throw new Error(`SimDisk ${this.owner}: too many unsynced writes`);
    let mustSync = true;
    if (w.kind === 'hardState') {
      const prev = this.lastWritten;
      assertNoRegression(this.owner, prev, w.hardState, 'written');
      mustSync = w.hardState.term !== prev.term || w.hardState.vote !== prev.vote;
      this.lastWritten = w.hardState;
    }
    if (w.kind === 'entries' && w.entries.length === 0) return;
    this.stats.writes++;
    this.pending.push(w);
    this.pendingFlags.push({ mustSync, exposed: false });
  }

  /** The node is about to send messages: every unsynced write they may depend on is now exposed. */
  expose(): void {
    for (const f of this.pendingFlags) if (f.mustSync) f.exposed = true;
  }

  get unsyncedWrites(): number {
    return this.pending.length;
  }

  /** Makes every buffered write durable. */
  sync(): void {
    this.stats.syncs++;
    for (const w of this.pending) this.land(w);
    this.pending = [];
    this.pendingFlags = [];
  }

  /**
   * Loses power: only synced data survives, plus (if `rng` allows) a prefix of the unsynced writes,
   * the last of which may be torn. Returns a description for the trace.
   */
  crash(rng: Prng, tornWrites: boolean): string {
    this.stats.crashes++;
    const pendingCount = this.pending.length;
    let landed = 0;
    let torn = '';
    if (tornWrites && pendingCount > 0 && rng.chance(0.5)) {
      landed = rng.intBetween(0, pendingCount);
      for (let i = 0; i < landed; i++) this.land(this.pending[i] as DiskWrite);
      const next = this.pending[landed];
      if (next?.kind === 'entries' && next.entries.length > 1) {
        const keep = rng.intBetween(1, next.entries.length - 1);
        this.land({ kind: 'entries', entries: next.entries.slice(0, keep) });
        this.stats.tornWrites++;
        torn = `, torn entries write kept ${keep}/${next.entries.length}`;
      }
    }
    this.stats.lostWrites += pendingCount - landed;
    const lostExposed = this.pending.filter((_, i) => i >= landed && this.pendingFlags[i]?.exposed === true);
    this.pending = [];
    this.pendingFlags = [];
    this.lastWritten = this.durable.hardState;
    if (lostExposed.length > 0) {
      throw new SimViolation(
        'durability',
        `${this.owner} crashed and lost writes it had already acted on (sent messages after them): ` +
          lostExposed.map(describeWrite).join(', '),
      );
    }
    return `lost ${pendingCount - landed}/${pendingCount} unsynced writes${torn}`;
  }

  /** The highest index durable here: the last durable entry, or the durable snapshot's index. */
  durableLastIndex(): number {
    const last = this.durable.entries[this.durable.entries.length - 1];
    return Math.max(last?.index ?? 0, this.durable.snapshot?.metadata.index ?? 0);
  }

  /** A copy of what is durable now (for tests and checks). */
  durableState(): Readonly<DurableState> {
    return {
      hardState: this.durable.hardState,
      snapshot: this.durable.snapshot,
      entries: this.durable.entries.slice(),
    };
  }

  /** Rebuilds the core's read-only storage view from durable data (on start and after a crash). */
  loadStorage(forgetVote: boolean): MemoryStorage {
    const storage = new MemoryStorage();
    const d = this.durable;
    if (d.snapshot !== undefined) storage.applySnapshot(d.snapshot);
    if (d.entries.length > 0) storage.append(d.entries);
    const hs = forgetVote ? { ...d.hardState, vote: NO_NODE } : d.hardState;
    storage.setHardState(hs);
    return storage;
  }

  /** Installs a snapshot the node created itself and drops the log it covers (synced: write, fsync, rename). */
  saveLocalSnapshot(snap: Snapshot, compactTo: number): void {
    this.sync();
    const d = this.durable;
    const current = d.snapshot?.metadata.index ?? 0;
    if (snap.metadata.index < current) {
      throw new Error(`SimDisk ${this.owner}: local snapshot ${snap.metadata.index} older than ${current}`);
    }
    d.snapshot = snap;
    // Entries after compactTo are kept: the core may still need them to catch followers up by log.
    d.entries = d.entries.filter((e) => e.index > compactTo);
    this.stats.syncs++;
  }

  /** Makes one write durable, in order. */
  private land(w: DiskWrite): void {
    const d = this.durable;
    switch (w.kind) {
      case 'hardState':
        assertNoRegression(this.owner, d.hardState, w.hardState, 'synced');
        d.hardState = w.hardState;
        return;
      case 'snapshot':
        d.snapshot = w.snapshot;
        d.entries = [];
        return;
      case 'entries':
        d.entries = appendTruncating(d.entries, d.snapshot?.metadata.index ?? 0, w.entries);
        return;
    }
  }
}

function describeWrite(w: DiskWrite): string {
  switch (w.kind) {
    case 'hardState':
      return `hard state term ${w.hardState.term} vote ${w.hardState.vote || '(none)'}`;
    case 'snapshot':
      return `snapshot at ${w.snapshot.metadata.index}`;
    case 'entries':
      return `entries ${w.entries[0]?.index}..${w.entries.at(-1)?.index}`;
  }
}

/**
 * Appends `entries` to a contiguous log (which starts at log[0].index, or after `snapIndex` when
 * empty), replacing any conflicting suffix. Entries at or below the snapshot are skipped.
 */
export function appendTruncating(log: Entry[], snapIndex: number, entries: readonly Entry[]): Entry[] {
  const logFirst = log[0]?.index ?? snapIndex + 1;
  const fresh = entries.filter((e) => e.index >= logFirst && e.index > snapIndex);
  const first = fresh[0];
  if (first === undefined) return log;
  const logNext = logFirst + log.length;
  if (first.index > logNext) {
    throw new Error(`SimDisk: gap in log: appending ${first.index} after ${logNext - 1}`);
  }
  const kept = log.slice(0, first.index - logFirst);
  for (let i = 1; i < fresh.length; i++) {
    if ((fresh[i] as Entry).index !== first.index + i)
      throw new Error('SimDisk: non-contiguous entries write');
  }
  return kept.concat(fresh);
}

/** Term never decreases; within a term the vote, once cast, never changes; commit never decreases. */
export function assertNoRegression(owner: NodeId, prev: HardState, next: HardState, when: string): void {
  if (next.term < prev.term) {
    throw new SimViolation(
      'hardStateRegression',
      `${owner}: ${when} term ${next.term} after term ${prev.term}`,
    );
  }
  if (next.term === prev.term && prev.vote !== NO_NODE && next.vote !== prev.vote) {
    throw new SimViolation(
      'hardStateRegression',
      `${owner}: ${when} vote changed within term ${next.term}: ${prev.vote} -> ${next.vote || '(none)'}`,
    );
  }
  if (next.commit < prev.commit) {
    throw new SimViolation(
      'hardStateRegression',
      `${owner}: ${when} commit ${next.commit} after ${prev.commit}`,
    );
  }
}
